"""Kernel sets in the runner child: every implementation at every size, checked then timed.

``child_main`` is the runner mode "kernels" (see ``child.MODES``). It loads the module,
pins the threads, measures the GEMM rate once, then for each kernel and size makes the
inputs once and runs the reference first and every other implementation after it, each
on its own copy of the inputs: first call (compile time apart, under a time limit,
inputs fingerprinted before and after it), result checked against the reference's, then
timed. Each row is sent as a ``KernelResult`` the moment it is known, so a UI can show
it live. An implementation that raises, fails to compile or returns the wrong shape gets
an error row and the others still run; an input factory that raises or returns an
iterator ends the run with one clear line (exit 2).

Threads: implementations marked parallel run at ``parallel_threads`` (every usable CPU
by default), the others at ``threads`` (1 by default); each row says which.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from workbench.authoring.kernels import Impl, KernelSet, missing_module
from workbench.engine.kernels.check import Check, canonical, compare
from workbench.engine.kernels.env import (
    apply_threads,
    cpu_model,
    gemm_probe,
    gemm_probe_cuda,
    parse_threads,
    thread_report,
    usable_cpus,
    versions,
)
from workbench.engine.kernels.inputs import (
    PER_SAMPLE_SHARE,
    Inputs,
    fingerprint,
    make_inputs,
    timed,
)
from workbench.engine.kernels.limit import FirstCallTimeout, current_row, first_call_limit
from workbench.engine.kernels.load import select_kernel_sets
from workbench.engine.kernels.rowinfo import ONCE, PER_CALL, PER_SAMPLE, RowInfo, pack
from workbench.engine.kernels.timing import TimingSettings, first_call, measure
from workbench.engine.loader import load_module, parse_target
from workbench.engine.protocol import FAILED, FINISHED, STOPPED, Failure, Finished, Log
from workbench.engine.protocol_tools import KernelEnvironment, KernelResult
from workbench.errors import UserError
from workbench.text import exception_message, exception_text
from workbench.units import format_seconds

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR = 0, 1, 2
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class KernelChildOptions:
    """What the parent asks of one kernels process (``RunOptions.mode_options``)."""

    kernel: str | None = None
    impls: tuple[str, ...] = ()  # only these labels (empty: all)
    sizes: tuple[int, ...] = ()  # instead of each kernel's own
    threads: str = "1"
    parallel_threads: str = "all"  # for implementations marked parallel
    round: int = 0
    gemm: bool = True
    timing: TimingSettings = field(default_factory=TimingSettings)
    watchdog: str | None = None  # file for the hard first-call limit (see limit.py)
    done: frozenset[tuple[str, int, str]] = frozenset()  # rows a previous runner sent
    timed_out: tuple[tuple[str, int, str, float], ...] = ()  # (kernel, size, impl, limit)
    died: frozenset[tuple[str, int, str]] = frozenset()  # rows a previous runner died in

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KernelChildOptions:
        timing_names = {f.name for f in fields(TimingSettings)}
        timing = TimingSettings(**{k: v for k, v in d.items() if k in timing_names})
        return cls(
            kernel=d.get("kernel"),
            impls=tuple(d.get("impls") or ()),
            sizes=tuple(int(s) for s in d.get("sizes") or ()),
            threads=str(d.get("threads", 1)),
            parallel_threads=str(d.get("parallel_threads", "all")),
            round=int(d.get("round", 0)),
            gemm=bool(d.get("gemm", True)),
            timing=timing,
            watchdog=d.get("watchdog"),
            done=frozenset((str(k), int(n), str(i)) for k, n, i in d.get("done") or ()),
            timed_out=tuple(
                (str(k), int(n), str(i), float(t)) for k, n, i, t in d.get("timed_out") or ()
            ),
            died=frozenset((str(k), int(n), str(i)) for k, n, i in d.get("died") or ()),
        )


@dataclass
class Plan:
    """One kernel set as it will run here: its sizes and the implementations that can."""

    kset: KernelSet
    sizes: tuple[int, ...]
    impls: list[Impl]
    unavailable: dict[str, str]
    threads: dict[str, int] = field(default_factory=dict)  # label -> threads it runs at

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.kset.name,
            "doc": self.kset.doc.split("\n\n")[0],
            "sizes": list(self.sizes),
            "impls": [i.label for i in self.impls],
            "reference": self.kset.reference,
            "unavailable": dict(self.unavailable),
            "flops": self.kset.flops is not None,
            "bytes": self.kset.bytes is not None,
            "parallel": [i.label for i in self.impls if i.parallel],
            "threads": dict(self.threads),
        }


def _device_problem(impl: Impl) -> str | None:
    """Why an implementation's device is not usable here, or None."""
    if impl.device in (None, "cpu"):
        return None
    if impl.device != "cuda":
        return f"device {impl.device!r} is not supported (cpu or cuda)"
    try:
        import torch
    except ImportError:
        return "needs torch for CUDA, which is not installed"
    if getattr(torch.version, "cuda", None) is None:
        return "torch has no CUDA (a CPU-only build)"
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    return None


def make_plans(sets: list[KernelSet], opts: KernelChildOptions) -> list[Plan]:
    """The runs to make; imports what the chosen implementations require (torch)."""
    if opts.impls:
        known = {label for s in sets for label in s.impls}
        unknown = [label for label in opts.impls if label not in known]
        if unknown:
            raise UserError(
                f"no implementation {unknown[0]!r} in "
                f"{', '.join(s.name for s in sets)}; available: "
                f"{', '.join(sorted(known))}"
            )
    plans = []
    for kset in sets:
        if not kset.impls:
            raise UserError(
                f"kernel {kset.name} has no implementations: add one with "
                f'@{kset.name}.impl("python")'
            )
        ref = kset.reference
        if ref not in kset.impls:
            raise UserError(
                f"kernel {kset.name}: its reference {ref!r} is not one of its "
                f"implementations ({', '.join(kset.impls)})"
            )
        impls, unavailable = [], {}
        for impl in kset.impls.values():
            if opts.impls and impl.label not in opts.impls and impl.label != ref:
                continue
            why = missing_module(impl)
            if why is None:
                for module in impl.requires:
                    try:
                        importlib.import_module(module)
                    except Exception as exc:
                        why = f"importing {module} raised {exception_text(exc)}"
                        break
            why = why or _device_problem(impl)
            if why:
                unavailable[impl.label] = why
            else:
                impls.append(impl)
        impls.sort(key=lambda i: i.label != ref)  # the reference first
        sizes = tuple(sorted(set(opts.sizes or kset.sizes)))
        threads = parse_threads(opts.threads)
        parallel = parse_threads(opts.parallel_threads)
        at = {i.label: parallel if i.parallel else threads for i in impls}
        plans.append(Plan(kset, sizes, impls, unavailable, at))
    return plans


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in _ANSI.sub("", exception_message(exc)).splitlines() if ln.strip()]
    text = ": ".join(lines[:2]) if lines else ""
    return text if len(text) <= 300 else text[:297] + "..."


def _is_compile_error(exc: BaseException) -> bool:
    try:
        from numba.core.errors import NumbaError
    except ImportError:
        return False
    return isinstance(exc, NumbaError)


def _declared(fn: Callable[[int], float] | None, size: int) -> float | None:
    if fn is None:
        return None
    try:
        return float(fn(size))
    except Exception:
        return None


def _cuda_sync() -> None:
    import torch

    torch.cuda.synchronize()


class KernelRunner:
    """Runs the plans in this process, posting one event per result."""

    def __init__(self, opts: KernelChildOptions, post: Callable[[Any], None]):
        self.opts = opts
        self.post = post
        self.threads = parse_threads(opts.threads)
        self.parallel_threads = parse_threads(opts.parallel_threads)
        self.timing = opts.timing
        # (kernel, impl) -> (size, seconds per call): to predict a call past the cut-off.
        self.history: dict[tuple[str, str], tuple[int, float]] = {}
        # (kernel, impl) -> (size, limit): its first call was ended there.
        self.timed_out: dict[tuple[str, str], tuple[int, float]] = {
            (k, i): (n, t) for k, n, i, t in opts.timed_out
        }

    def environment(self, module: Any, plans: list[Plan]) -> KernelEnvironment:
        gemm: dict[str, Any] | None = None
        if self.opts.gemm:

            def probe(fn: Any, args: Any, sync: Any) -> Any:
                return measure(fn, args, self.timing, sync)

            try:
                gemm = gemm_probe(probe)
                gemm["threads"] = self.threads
                parallel = any(i.parallel for p in plans for i in p.impls if i.device != "cuda")
                if parallel and self.parallel_threads != self.threads:
                    # The yardstick of the parallel rows is GEMM at their thread count.
                    apply_threads(self.parallel_threads)
                    try:
                        at = gemm_probe(probe)
                    finally:
                        apply_threads(self.threads)
                    at["threads"] = self.parallel_threads
                    gemm["at_threads"] = {str(self.parallel_threads): at}
            except Exception as exc:  # a broken BLAS must not end the kernels run
                gemm = {"error": f"{type(exc).__name__}: {exc}"}
            if any(i.device == "cuda" for p in plans for i in p.impls):
                try:
                    gemm["cuda"] = gemm_probe_cuda(probe)
                except Exception as exc:
                    gemm["cuda"] = {"error": f"{type(exc).__name__}: {exc}"}
        apply_threads(self.threads)  # the pools loaded since (Numba's): as each row runs
        return KernelEnvironment(
            pid=os.getpid(),
            module=module.__name__,
            path=getattr(module, "__file__", "") or "",
            round=self.opts.round,
            python=sys.version.split()[0],
            versions=versions(),
            cpu=cpu_model(),
            cpus=usable_cpus(),
            threads=thread_report(self.opts.threads),
            gemm=gemm,
            kernels=tuple(p.describe() for p in plans),
            settings={
                "threads": self.threads,
                "parallel_threads": self.parallel_threads,
                **vars(self.timing),
            },
            started_at=time.time(),
        )

    def run_plan(self, plan: Plan) -> None:
        for size in plan.sizes:
            self.run_size(plan, size)

    def run_size(self, plan: Plan, size: int) -> None:
        kset = plan.kset
        try:
            inputs = make_inputs(kset.name, size, kset.factory)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"kernel {kset.name}: its input factory raised {type(exc).__name__}: "
                f"{_one_line(exc)} (size {size})",
                traceback=traceback.format_exc(),
            ) from None
        ref_value: Any = None
        ref_problem: str | None = f"the reference {kset.reference} did not run"
        done = self.opts.done
        left = {i.label for i in plan.impls if (kset.name, size, i.label) not in done}
        for impl in plan.impls:
            is_ref = impl.label == kset.reference
            if impl.label not in left and not (is_ref and left):
                continue  # a previous runner sent this row (the reference runs for its value)
            if is_ref and (kset.name, size, impl.label) in self.opts.died:
                # run again for its value, it would end this runner too: the rest unchecked
                ref_problem = f"the reference {impl.label} killed the runner at this size"
                continue
            value_only = impl.label not in left  # the reference, for the rows left
            here = {"kernel": kset.name, "size": size, "impl": impl.label, "reference": is_ref}
            with current_row(self.opts.watchdog, here):
                row, value = self.run_impl(
                    plan, impl, size, inputs, ref_value, ref_problem, value_only=value_only
                )
            if is_ref:
                if row.status == "error":
                    ref_problem = f"the reference {impl.label} failed"
                elif value is None:
                    ref_problem = f"the reference {impl.label} {row.skipped or 'did not run'}"
                else:
                    ref_value, ref_problem = value, None
            if impl.label in left:
                self.post(row)

    def impl_threads(self, impl: Impl) -> int:
        """The threads ``impl`` runs at: all (``--parallel-threads``) when it is marked
        parallel, else ``--threads``."""
        return self.parallel_threads if impl.parallel else self.threads

    def run_impl(
        self,
        plan: Plan,
        impl: Impl,
        size: int,
        inputs: Inputs,
        ref_value: Any,
        ref_problem: str | None,
        *,
        value_only: bool = False,
    ) -> tuple[KernelResult, Any]:
        """One row: predicted skip, a fresh copy of the inputs, prepare, first call (under
        its time limit, inputs fingerprinted around it), check, then timing (not with
        ``value_only``: a fresh runner needs the reference's result, not its row again).
        Returns the row and the canonical result (None when there is none to compare with)."""
        kset = plan.kset
        is_ref = impl.label == kset.reference
        threads = self.impl_threads(impl)
        info = RowInfo(threads=threads, parallel=impl.parallel)
        base = KernelResult(
            kernel=kset.name,
            size=size,
            impl=impl.label,
            round=self.opts.round,
            status="ok",
            check=pack(None, info),
            flops=_declared(kset.flops, size),
            bytes=_declared(kset.bytes, size),
            reference=is_ref,
            device=impl.device,
        )
        ended = self.timed_out.get((kset.name, impl.label))
        if ended is not None and size >= ended[0]:
            why = (
                f"skipped: its first call at size {ended[0]:,} ran past the "
                f"{format_seconds(ended[1])} limit (--first-call-limit)"
            )
            return replace(base, status="skipped", skipped=why), None
        predicted = self._predict(kset, impl.label, size)
        if predicted is not None and predicted > self.timing.cutoff_s and not is_ref:
            prev_size, prev_s = self.history[(kset.name, impl.label)]
            why = (
                f"skipped: about {format_seconds(predicted)} a call, predicted from "
                f"{format_seconds(prev_s)} at size {prev_size:,} (cut-off "
                f"{format_seconds(self.timing.cutoff_s)}, --cutoff)"
            )
            return replace(base, status="skipped", skipped=why), None

        def fresh() -> tuple[Any, ...]:
            args, _ = inputs.fresh()
            return tuple(impl.prepare(*args)) if impl.prepare else args

        try:
            (args, copy_note), copy_s = timed(inputs.fresh)
            call_args = tuple(impl.prepare(*args)) if impl.prepare else args
        except Exception as exc:
            why = f"its prepare step raised {type(exc).__name__}: {_one_line(exc)}"
            return replace(
                base, status="error", correct=False, error=why, traceback=traceback.format_exc()
            ), None
        info = replace(info, input_note=copy_note)
        sync = _cuda_sync if impl.device == "cuda" else None
        apply_threads(threads)  # again: a library may have loaded its own pool since
        before = fingerprint(call_args)
        limit = self.timing.first_call_limit_s
        row_id = {"kernel": kset.name, "size": size, "impl": impl.label, "reference": is_ref}
        try:
            with first_call_limit(limit, self.opts.watchdog, row_id):
                first = first_call(impl.fn, call_args, sync)
        except FirstCallTimeout:
            self.timed_out[(kset.name, impl.label)] = (size, limit)
            why = (
                f"skipped: its first call ran past the {format_seconds(limit)} limit "
                "(compile time included; --first-call-limit) and was ended"
            )
            info = replace(info, ended_after_s=limit)
            return replace(base, status="skipped", skipped=why, check=pack(None, info)), None
        except Exception as exc:
            what = (
                f"failed to compile ({type(exc).__name__})"
                if _is_compile_error(exc)
                else f"raised {type(exc).__name__}"
            )
            return replace(
                base,
                status="error",
                correct=False,
                error=f"{what}: {_one_line(exc)}",
                traceback=traceback.format_exc(),
            ), None
        after = fingerprint(call_args) if before is not None else None
        mutates = None if before is None else after != before
        if before is None:
            info = replace(info, input_note="its inputs could not be fingerprinted: not checked")
        info = replace(info, mutates=mutates)
        timed_row = replace(
            base, first_call_s=first.seconds, compile_s=first.compile_s, compiles=first.compiles
        )
        value, check = self._check(kset, is_ref, first.result, ref_value, ref_problem)
        if is_ref and value is not None:
            with contextlib.suppress(Exception):  # the result may be the input: keep it apart
                value = copy.deepcopy(value)
        if check.malformed:
            return replace(
                timed_row,
                status="error",
                correct=False,
                check=pack(check.note, info),
                error=check.note,
            ), None
        timed_row = replace(timed_row, correct=check.correct, check=pack(check.note, info))
        if value_only:
            return timed_row, value
        per_call = first.seconds - (first.compile_s or 0.0)
        if per_call > self.timing.cutoff_s:
            self.history[(kset.name, impl.label)] = (size, per_call)
            why = (
                f"skipped: one call took {format_seconds(per_call)}, over the "
                f"{format_seconds(self.timing.cutoff_s)} cut-off (--cutoff)"
            )
            return replace(timed_row, status="skipped", skipped=why), value
        try:
            # Fresh inputs: call by call for one that changes them; else per sample where a
            # copy is cheap next to a sample, else the (unchanged) copy it was called on.
            _, copy_s = timed(fresh)
            if mutates:
                mode = PER_CALL
            elif copy_s <= PER_SAMPLE_SHARE * self.timing.min_sample_s:
                mode = PER_SAMPLE
            else:
                mode = ONCE
            info = replace(info, inputs=mode, copy_s=copy_s)
            timed_row = replace(timed_row, check=pack(check.note, info))
            apply_threads(threads)
            m = measure(
                impl.fn,
                call_args,
                self.timing,
                sync,
                fresh=None if mode == ONCE else fresh,
                per_call=mode == PER_CALL,
                copy_s=copy_s,
            )
        except Exception as exc:
            why = f"raised {type(exc).__name__} while timed: {_one_line(exc)}"
            return replace(
                timed_row, status="error", error=why, traceback=traceback.format_exc()
            ), value
        summary = m.summary
        self.history[(kset.name, impl.label)] = (size, summary.median if summary else per_call)
        return replace(
            timed_row,
            recompiles=m.recompiles,
            warmup_s=m.warmup_s,
            loops=m.loops,
            samples=m.samples,
            low_n=m.low_n,
        ), value

    @staticmethod
    def _check(
        kset: KernelSet, is_ref: bool, result: Any, ref_value: Any, ref_problem: str | None
    ) -> tuple[Any, Check]:
        """The result made comparable, and the verdict on it."""
        try:
            value = canonical(result)
            if is_ref:
                return value, Check(True, "reference")
            if ref_problem is not None:
                return value, Check(None, f"not checked: {ref_problem}")
            return value, compare(
                value, ref_value, check=kset.check, rtol=kset.rtol, atol=kset.atol
            )
        except Exception as exc:
            return None, Check(
                False, f"checking its result raised {type(exc).__name__}: {_one_line(exc)}", True
            )

    def _predict(self, kset: KernelSet, label: str, size: int) -> float | None:
        """Seconds a call should take at ``size``, scaled from the last size measured by
        the declared flop count (else linearly in the size)."""
        prev = self.history.get((kset.name, label))
        if prev is None:
            return None
        prev_size, prev_s = prev
        cost = kset.flops or (lambda n: float(n))
        try:
            ratio = float(cost(size)) / float(cost(prev_size))
        except Exception:
            ratio = size / prev_size
        return prev_s * ratio


def child_main(cfg: Any, outbox: Any) -> int:
    """The "kernels" runner mode: returns the exit code."""
    post = outbox.post

    def fail_user(phase: str, exc: UserError) -> int:
        post(Failure(phase, "UserError", exc.message, exc.traceback, None, True))
        post(Finished(FAILED, None, exc.message))
        return EXIT_USER_ERROR

    try:
        opts = KernelChildOptions.from_dict(cfg.options)
        runner = KernelRunner(opts, post)
        target = parse_target(cfg.target)
        module = load_module(target)
        sets = select_kernel_sets(module, target, opts.kernel)
        plans = make_plans(sets, opts)
    except UserError as exc:
        return fail_user("load", exc)
    except KeyboardInterrupt:
        post(Finished(STOPPED, "user", "stopped by the user"))
        return EXIT_OK
    try:
        apply_threads(runner.threads)
        post(runner.environment(module, plans))
        for plan in plans:
            for label, why in plan.unavailable.items():
                post(Log("pipebench", f"{plan.kset.name}: {label} not run: {why}"))
            runner.run_plan(plan)
    except UserError as exc:
        return fail_user("inputs", exc)
    except KeyboardInterrupt:
        post(Finished(STOPPED, "user", "stopped by the user"))
        return EXIT_OK
    except Exception as exc:
        post(
            Failure(
                "run",
                type(exc).__name__,
                exception_message(exc),
                traceback.format_exc(),
                None,
                False,
            )
        )
        post(Finished(FAILED, None, exception_text(exc)))
        return EXIT_FAILED
    post(Finished(FINISHED))
    return EXIT_OK
