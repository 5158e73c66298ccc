"""broker's policy engine against moto's IAM evaluator and cedarpy, on identical requests in one run.

Run: ``.venv/bin/python -m benchmarks.policy_eval`` (about 2-3 minutes) or ``--quick`` (CI smoke, ~20 s).
Prints, per policy set (one typical role of 10 policies / 50 statements, then 10, 100, 1,000 and 10,000
statements): p50/p99 microseconds and decisions/s per engine, the agreement rate of each peer with broker
(disagreements by category), the ratios, and PASS/MISS against issue 3's targets. Method: README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cedarpy

from benchmarks import policy_model
from benchmarks._stats import Sampler, Timing, interleave
from benchmarks.policy_broker import load_broker
from benchmarks.policy_cedar import cedar_request, cedar_verdict, translate_documents
from benchmarks.policy_corpus import Corpus, EvalRequest, build_corpus
from benchmarks.policy_moto import CATEGORIES, classify, moto_evaluator

TYPICAL = "role 10x5"


@dataclass(frozen=True, slots=True)
class SetSpec:
    label: str
    statements: int
    per_policy: int


SETS = (SetSpec(TYPICAL, 50, 5), SetSpec("10", 10, 5), SetSpec("100", 100, 5), SetSpec("1,000", 1_000, 5),
        SetSpec("10,000", 10_000, 5))


@dataclass(frozen=True, slots=True)
class Config:
    requests: int
    budget_s: float
    agree_budget_s: float
    max_samples: int
    batch: int
    rounds: int
    seed: int


@dataclass
class SetResult:
    spec: SetSpec
    policies: int
    compile_ms: dict[str, float] = field(default_factory=dict)
    timings: dict[str, Timing] = field(default_factory=dict)
    mix: Counter[str] = field(default_factory=Counter)
    reference: str = "broker"
    agreement: dict[str, tuple[int, int]] = field(default_factory=dict)
    categories: dict[str, Counter[str]] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


def _timed_build(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter_ns()
    out = fn()
    return out, (time.perf_counter_ns() - t0) / 1e6


def _verdicts(decide: Callable[[int], str], count: int, budget_s: float) -> list[str]:
    """Untimed decisions for the first requests, in order, until ``count`` or the budget (at least 20)."""
    out: list[str] = []
    deadline = time.perf_counter() + budget_s
    for i in range(count):
        out.append(decide(i))
        if i >= 20 and time.perf_counter() > deadline:
            break
    return out


def run_set(spec: SetSpec, cfg: Config, broker_note: list[str]) -> SetResult:
    corpus: Corpus = build_corpus(spec.statements, requests=cfg.requests, per_policy=spec.per_policy, seed=cfg.seed)
    docs = corpus.parsed
    reqs: Sequence[EvalRequest] = corpus.requests
    res = SetResult(spec, len(corpus.documents))

    (broker, why), res.compile_ms["broker"] = _timed_build(lambda: load_broker(corpus.documents))
    if broker is None:
        broker_note[:] = [why]
    moto: Callable[[str, str, Mapping[str, str]], str]
    moto, res.compile_ms["moto"] = _timed_build(lambda: moto_evaluator(corpus.documents))
    cedar_ps, res.compile_ms["cedarpy"] = _timed_build(lambda: cedarpy.PolicySet.from_str(translate_documents(docs)))
    entities = cedarpy.Entities.from_json_str("[]")
    cedar_reqs = [cedar_request(r.action, r.resource, r.context) for r in reqs]
    def cedar_one(request: dict[str, Any]) -> Any:
        return cedarpy.is_authorized(request, cedar_ps, entities)

    def cedar_decide(i: int) -> str:
        out = cedar_one(cedar_reqs[i])
        if out.diagnostics.errors:
            raise RuntimeError(f"Cedar evaluation error: {out.diagnostics.errors}")
        return cedar_verdict(out.allowed, out.diagnostics.reasons)

    def moto_decide(i: int) -> str:
        return moto(reqs[i].action, reqs[i].resource, reqs[i].context)

    # --- agreement (untimed): reference verdicts, then each peer on the same first-N requests ---
    if broker is not None:
        prepared = broker.prepare(reqs)
        ref = _verdicts(lambda i: broker.verdict(prepared[i]), len(reqs), cfg.agree_budget_s)
        model = _verdicts(lambda i: policy_model.evaluate(docs, reqs[i].action, reqs[i].resource, reqs[i].context),
                          len(ref), cfg.agree_budget_s)
        _agree(res, "model", ref, model, reqs, docs, None)
    else:
        res.reference = "model"
        ref = _verdicts(lambda i: policy_model.evaluate(docs, reqs[i].action, reqs[i].resource, reqs[i].context),
                        len(reqs), cfg.agree_budget_s)
    res.mix.update(ref)
    _agree(res, "moto", ref, _verdicts(moto_decide, len(ref), cfg.agree_budget_s), reqs, docs, "moto")
    _agree(res, "cedarpy", ref, _verdicts(cedar_decide, len(ref), cfg.agree_budget_s), reqs, docs, None)

    # --- timing: identical request list, same order, engines alternating in rounds ---
    samplers: dict[str, Sampler[Any]] = {"empty call": Sampler(_noop, reqs)}
    if broker is not None:
        samplers["broker"] = Sampler(broker.decide, prepared)
        samplers["broker +Request()"] = Sampler(broker.request_inclusive, reqs)
    samplers["moto"] = Sampler(lambda r: moto(r.action, r.resource, r.context), reqs)
    samplers["cedarpy"] = Sampler(cedar_one, cedar_reqs)
    batch = cedar_reqs[: max(5, min(cfg.batch, 100_000 // spec.statements))]  # one batch call stays < ~0.5 s
    samplers[f"cedarpy batch/{len(batch)}"] = Sampler(
        lambda b: cedarpy.is_authorized_batch(b, cedar_ps, entities), [batch], per=len(batch), warmup=1,
        min_samples=1)
    res.timings = interleave(samplers, rounds=cfg.rounds, budget_s=cfg.budget_s, max_samples=cfg.max_samples)
    return res


def _noop(_: object) -> None:
    return None


def _agree(res: SetResult, peer: str, ref: Sequence[str], got: Sequence[str], reqs: Sequence[EvalRequest],
           docs: list[dict[str, Any]], categorise: str | None) -> None:
    n = min(len(ref), len(got))
    same = sum(1 for i in range(n) if ref[i] == got[i])
    res.agreement[peer] = (same, n)
    cats: Counter[str] = Counter()
    for i in range(n):
        if ref[i] == got[i]:
            continue
        r = reqs[i]
        if categorise == "moto":
            cats[classify(docs, r.action, r.resource, r.context, got[i])] += 1  # type: ignore[arg-type]
        else:
            cats[f"{ref[i]} vs {got[i]}"] += 1
            if len(res.examples) < 3:
                res.examples.append(f"{peer} says {got[i]}, {res.reference} says {ref[i]}: {r}")
    res.categories[peer] = cats


def _fmt(x: float) -> str:
    return f"{x:,.2f}" if x < 100 else f"{x:,.0f}"


def report(results: Sequence[SetResult], broker_note: Sequence[str], cfg: Config) -> int:
    """Print the tables and targets; return the number of MISSes (0 when broker could not be measured)."""
    print(f"# policy_eval  python {platform.python_version()}  {platform.machine()}  seed={cfg.seed}  "
          f"requests/set={cfg.requests}  budget/cell={cfg.budget_s}s")
    if broker_note:
        print(f"broker not measured: {broker_note[0]}; agreement is against the naive model (policy_model.py)")
    print("\n## Latency per decision (µs; decisions/s = 1 / mean)\n")
    print("| set | stmts / policies | engine | n | p50 µs | p99 µs | decisions/s | compile ms |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        for name, t in r.timings.items():
            compile_ms = r.compile_ms.get(name.split(" ")[0], float("nan")) if name != "empty call" else float("nan")
            cm = "" if compile_ms != compile_ms else _fmt(compile_ms)
            print(f"| {r.spec.label} | {r.spec.statements} / {r.policies} | {name} | {t.n:,} | {_fmt(t.p50_us)} | "
                  f"{_fmt(t.p99_us)} | {t.per_second:,.0f} | {cm} |")
    print("\n## Agreement with " + ("broker" if not broker_note else "the naive model") + " (same requests)\n")
    print("| set | verdict mix (reference) | peer | agree | n | disagreements by category |")
    print("|---|---|---|---:|---:|---|")
    for r in results:
        mix = ", ".join(f"{k} {v * 100 / max(1, sum(r.mix.values())):.0f}%" for k, v in sorted(r.mix.items()))
        for peer, (same, n) in r.agreement.items():
            cats = ", ".join(f"{k}: {v}" for k, v in r.categories[peer].most_common()) or "none"
            print(f"| {r.spec.label} | {mix} | {peer} | {same * 100 / max(1, n):.1f}% | {n:,} | {cats} |")
    for r in results:
        for ex in r.examples:
            print(f"  example [{r.spec.label}]: {ex}")
    print("\nmoto categories: " + "; ".join(f"{k} = {v}" for k, v in CATEGORIES.items()))
    return _targets(results)


def _targets(results: Sequence[SetResult]) -> int:
    by = {r.spec.label: r.timings for r in results}
    if TYPICAL not in by or "10,000" not in by or "broker" not in by[TYPICAL]:
        print("\n## Targets: not evaluated (broker not measured, or the 50 and 10,000 sets were not run)")
        return 0
    print("\n## Ratios at p50 (peer p50 / broker p50; moto stops at its first DENIED policy, see README)\n")
    print("| set | moto / broker | cedarpy / broker | cedarpy batch / broker |")
    print("|---|---:|---:|---:|")
    for r in results:
        t = r.timings
        b = t["broker"].p50_us
        batch = next(v for k, v in t.items() if k.startswith("cedarpy batch"))
        print(f"| {r.spec.label} | {t['moto'].p50_us / b:,.0f}x | {t['cedarpy'].p50_us / b:,.0f}x | "
              f"{batch.p50_us / b:,.0f}x |")
    typ = by[TYPICAL]
    big = by["10,000"]
    checks = [
        ("typical role p50 <= 2 µs", typ["broker"].p50_us, 2.0, typ["broker"].p50_us <= 2.0, "µs"),
        ("typical role p99 <= 10 µs", typ["broker"].p99_us, 10.0, typ["broker"].p99_us <= 10.0, "µs"),
        ("moto / broker at p50 >= 75x (typical role)", typ["moto"].p50_us / typ["broker"].p50_us, 75.0,
         typ["moto"].p50_us / typ["broker"].p50_us >= 75.0, "x"),
        ("cedarpy / broker at p50 >= 100x (typical role)", typ["cedarpy"].p50_us / typ["broker"].p50_us, 100.0,
         typ["cedarpy"].p50_us / typ["broker"].p50_us >= 100.0, "x"),
        ("p50 at 10,000 stmts <= 5x p50 at 50", big["broker"].p50_us / typ["broker"].p50_us, 5.0,
         big["broker"].p50_us / typ["broker"].p50_us <= 5.0, "x"),
    ]
    print("\n## Targets (issue 3)\n")
    misses = 0
    for name, value, bound, ok, unit in checks:
        misses += not ok
        print(f"- {'PASS' if ok else 'MISS'}  {name}: measured {value:,.2f} {unit} (target {bound:g} {unit})")
    return misses


def profile_broker(cfg: Config, spec: SetSpec, calls: int = 100_000) -> None:
    """cProfile ``calls`` broker decisions on one set; print the top entries by own time."""
    corpus = build_corpus(spec.statements, requests=cfg.requests, per_policy=spec.per_policy, seed=cfg.seed)
    engine, why = load_broker(corpus.documents)
    if engine is None:
        print(f"\n## Profile: skipped ({why})")
        return
    prepared = engine.prepare(corpus.requests)
    decide, n = engine.decide, len(prepared)
    for r in prepared:  # warm: plans and memos are built before profiling, as in the timed runs
        decide(r)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        decide(prepared[i % n])
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    units = _units_per_request(engine, prepared)
    print(f"\n## Profile: broker, {spec.label}, {calls:,} decisions (sorted by own time)\n")
    if units:
        print(f"statement units examined per request: mean {sum(units) / len(units):.1f}, max {max(units)}\n")
    print(out.getvalue())


def _units_per_request(engine: Any, prepared: Sequence[Any]) -> list[int]:
    """How many statement units broker's plan hands ``evaluate`` per request (internal; [] if it changed)."""
    try:
        from broker.policy.plan import plan_for

        plan = plan_for(engine.policy_set)
        out = []
        for r in prepared:
            entry = plan.entry(r.action_key)
            out.append(len(entry if isinstance(entry, tuple) else entry.select(r.resource)))
        return out
    except (ImportError, AttributeError):
        return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="CI smoke run: fewer requests, tiny budgets")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--sets", default="", help="comma-separated statement counts to run, e.g. 50,10000 "
                        "(targets need 50 and 10000; default: all)")
    parser.add_argument("--profile", nargs="?", type=int, const=50, default=None, metavar="STATEMENTS",
                        help="cProfile broker on one set (default: the typical role, 50), top entries")
    args = parser.parse_args(argv)
    cfg = (Config(requests=200, budget_s=0.15, agree_budget_s=0.3, max_samples=20_000, batch=20, rounds=2,
                  seed=args.seed)
           if args.quick else
           Config(requests=2_000, budget_s=2.0, agree_budget_s=2.0, max_samples=400_000, batch=100, rounds=4,
                  seed=args.seed))
    note: list[str] = []
    results = []
    wanted = {int(x) for x in args.sets.replace("_", "").split(",") if x.strip()}
    for spec in SETS:
        if wanted and spec.statements not in wanted:
            continue
        results.append(run_set(spec, cfg, note))
        print(f"... {spec.label}: done", file=sys.stderr, flush=True)
    misses = report(results, note, cfg)
    if args.profile is not None:
        profile_broker(cfg, next(s for s in SETS if s.statements == args.profile))
    return 1 if args.strict and misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
