"""Throughput of the embedded model (SmolLM2-135M-Instruct Q4_1 via llama-cpp-python).

Prints load time, prompt-eval and generation tokens/s per thread count, and the
latency of a typical ``evalkit.model`` chat call. Figures come from llama.cpp's own
perf counters (prompt eval vs. token generation), medians over ``--repeats``.

    python benchmarks/bench_model.py                 # threads = 1 and os.cpu_count()
    python benchmarks/bench_model.py --threads 1 2 4 --repeats 5

llama.cpp threads spin while they wait for each other, so on a busy machine (other
processes on every core) more threads can be much slower; the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

PROMPT = (
    "The Python standard library is very extensive, offering a wide range of facilities. "
    "It contains built-in modules, written in C, that provide access to system "
    "functionality such as file I/O, as well as modules written in Python that provide "
    "standardized solutions for many problems that occur in everyday programming. "
) * 4


def _perf(llama: object) -> tuple[float, int, float, int]:
    import llama_cpp

    data = llama_cpp.llama_perf_context(llama._ctx.ctx)  # type: ignore[attr-defined]
    return data.t_p_eval_ms, data.n_p_eval, data.t_eval_ms, data.n_eval


def bench_threads(path: str, threads: int, repeats: int, gen_tokens: int) -> dict[str, float]:
    import llama_cpp

    start = time.perf_counter()
    llama = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads,
                            n_threads_batch=threads, verbose=False)
    load_s = time.perf_counter() - start
    eos = llama.token_eos()
    prompt_tps: list[float] = []
    gen_tps: list[float] = []
    prompt_tokens = 0
    for i in range(repeats):
        llama.reset()  # no KV-cache reuse: evaluate the whole prompt every time
        llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
        llama.create_completion(PROMPT + f" ({i})", max_tokens=gen_tokens, temperature=0.0,
                                logit_bias={eos: -1e9})
        t_p, n_p, t_g, n_g = _perf(llama)
        prompt_tokens = n_p
        prompt_tps.append(n_p / (t_p / 1000))
        gen_tps.append(n_g / (t_g / 1000))
    llama.close()
    return {
        "threads": threads, "load_s": load_s, "prompt_tokens": prompt_tokens,
        "prompt_tps": statistics.median(prompt_tps), "gen_tps": statistics.median(gen_tps),
    }


async def bench_client(repeats: int) -> tuple[float, float, int, int]:
    from evalkit.model import create_client

    client = create_client("local")
    messages = [
        {"role": "system", "content": "You are a concise assistant for Python questions."},
        {"role": "user", "content": "What does the 'with' statement do in Python?"},
    ]
    await client.chat(messages, max_tokens=8, seed=0)  # load outside the timing
    latencies = []
    result = None
    for i in range(repeats):
        start = time.perf_counter()
        result = await client.chat(messages, max_tokens=64, seed=i)
        latencies.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(latencies), max(latencies), result.input_tokens, 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+",
                        default=sorted({1, os.cpu_count() or 1}))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gen-tokens", type=int, default=64)
    args = parser.parse_args()

    start = time.perf_counter()
    import llama_cpp

    import_s = time.perf_counter() - start
    from evalkit.model import default_gguf_path

    path = str(default_gguf_path())
    print(f"model      {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    print(f"llama_cpp  {llama_cpp.__version__}, import {import_s:.2f}s; "
          f"python {sys.version.split()[0]}")
    print(f"cpus       {os.cpu_count()}; load average before {os.getloadavg()[0]:.2f}")
    print()
    print(f"{'threads':>7} {'load s':>7} {'prompt tok':>10} {'prompt tok/s':>12} {'gen tok/s':>10}")
    for threads in args.threads:
        row = bench_threads(path, threads, args.repeats, args.gen_tokens)
        print(f"{row['threads']:>7} {row['load_s']:>7.2f} {row['prompt_tokens']:>10} "
              f"{row['prompt_tps']:>12.0f} {row['gen_tps']:>10.1f}")
    median, worst, in_tokens, max_tokens = asyncio.run(bench_client(args.repeats))
    print()
    print(f"evalkit.model chat (default client, {in_tokens} prompt tokens, "
          f"max_tokens={max_tokens}): median {median:.2f}s, max {worst:.2f}s "
          f"over {args.repeats} calls")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
