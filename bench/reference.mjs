// The reference engine (llama.cpp, through the prebuilt CPU binaries of the node-llama-cpp npm
// package) timed the way llama-bench times it, so that kumo and the reference can be measured
// side by side in the same minutes on this shared host. bench/peer.sh installs the package and runs it.
//
//   node bench/reference.mjs MODEL.gguf [-p 512] [-n 128] [-t 2] [-r 3]
//
// pp: a fresh context evaluates P tokens in one batch of P (no logits but the last, as llama-bench).
// tg: a fresh context decodes N tokens one at a time, each with its logits and a greedy pick (llama-bench
// feeds its own token instead of sampling; the pick over the vocabulary costs well under 1 % of a
// token here). Each test runs once as a warm-up and then REPS times; prints one JSON object.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// Installed outside git by bench/peer.sh (KUMO_REFENGINE_DIR, default bench/.refengine).
const refDir = process.env.KUMO_REFENGINE_DIR ?? path.join(path.dirname(fileURLToPath(import.meta.url)), ".refengine");
const { getLlama, LlamaLogLevel } = await import(
    pathToFileURL(path.join(refDir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);

function parseArgs(argv) {
    const o = { model: null, p: 512, n: 128, t: 2, r: 3 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "-p" || a === "-n" || a === "-t" || a === "-r") {
            const v = Number(argv[++i]);
            if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
            o[a.slice(1)] = v;
        } else if (!o.model) o.model = a;
        else throw new Error(`unexpected argument ${a}`);
    }
    if (!o.model) throw new Error("usage: node bench/reference.mjs MODEL.gguf [-p 512] [-n 128] [-t 2] [-r 3]");
    return o;
}

function stats(xs) {
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const varr = xs.length > 1 ? xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1) : 0;
    return { mean, stddev: Math.sqrt(varr) };
}

// Token ids spread over the vocabulary without special tokens, the same for every run.
function promptTokens(model, count) {
    const n = model.tokens.bos !== null ? count - 1 : count;
    const ids = model.tokens.bos !== null ? [model.tokens.bos] : [];
    let x = 12345;
    for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        ids.push(1000 + (x % 20000));
    }
    return ids;
}

async function timePrompt(context, tokens) {
    const seq = context.getSequence();
    try {
        const t0 = process.hrtime.bigint();
        await seq.evaluateWithoutGeneratingNewTokens(tokens);
        return Number(process.hrtime.bigint() - t0) / 1e9;
    } finally {
        seq.dispose();
    }
}

async function timeGeneration(context, first, count) {
    const seq = context.getSequence();
    try {
        let made = 0;
        const t0 = process.hrtime.bigint();
        for await (const tok of seq.evaluate([first], { temperature: 0 })) {
            void tok;
            if (++made >= count) break;
        }
        return Number(process.hrtime.bigint() - t0) / 1e9;
    } finally {
        seq.dispose();
    }
}

const o = parseArgs(process.argv.slice(2));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: o.t });
const model = await llama.loadModel({ modelPath: o.model, gpuLayers: 0, useMmap: true });
const context = await model.createContext({
    contextSize: Math.max(o.p, o.n) + 64, batchSize: Math.max(o.p, 1), threads: { ideal: o.t, min: o.t },
    sequences: 1, flashAttention: true,
});
const out = { engine: "llama.cpp (node-llama-cpp " + (llama.buildType ?? "prebuilt") + ")", model: o.model, threads: o.t,
    cpu_backend: null, model_bytes: model.size };
try { out.cpu_backend = llama.systemInfo; } catch { /* older packages */ }
if (o.p > 0) {
    const tokens = promptTokens(model, o.p);
    const secs = [];
    for (let i = 0; i <= o.r; i++) {
        const s = await timePrompt(context, tokens);
        if (i > 0) secs.push(s);
    }
    const tps = stats(secs.map((s) => o.p / s));
    out.pp_tok_s = tps.mean; out.pp_stddev = tps.stddev;
}
if (o.n > 0) {
    const first = model.tokens.bos ?? 1000;
    const secs = [];
    for (let i = 0; i <= o.r; i++) {
        const s = await timeGeneration(context, first, o.n);
        if (i > 0) secs.push(s);
    }
    const tps = stats(secs.map((s) => o.n / s));
    out.tg_tok_s = tps.mean; out.tg_stddev = tps.stddev;
}
await context.dispose();
await model.dispose();
await llama.dispose();
console.log(JSON.stringify(out));
