"""How every entry point fails: one line for people, a traceback only when asked for.

``main_with_clear_errors`` wraps the ``main(argv)`` of every stage, CLI and script, and gives each the
same setup: logging with one handler on stderr (INFO, DEBUG with ``-v``), library noise filtered
(warnings, transformers/diffusers/NNCF chatter), and SIGINT/SIGTERM turned into an exception so that
the atomic output context managers discard what was being written. Then:

- ``UserError`` (bad input): ``error: <message>`` on stderr, exit 2;
- ``ResourceError`` (not enough memory or disk, before or while writing): ``error: <message>``, exit 75;
- SIGINT / SIGTERM: ``error: interrupted by SIGTERM ...``, exit 128 + the signal number;
- anything else: ``error: <type>: <reason>`` with a hint to re-run with ``-v``, exit 1.

``-v`` / ``--verbose`` (or ``OVDQ_DEBUG=1`` in the environment, e.g. under ``dvc repro``) shows DEBUG
messages, the libraries' warnings and the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import signal
import sys
import traceback
import warnings
from typing import Callable, Iterator

DEBUG_ENV = "OVDQ_DEBUG"
VERBOSE_FLAGS = ("-v", "--verbose")
OWN_LOGGERS = ("ov_diffusion_quant", "stages", "__main__")  # the library, the stages, a script run as a file
# Libraries that log through handlers of their own (propagate=False): quiet below ERROR unless verbose.
# Their variables are read when they first configure logging, so they are set before anything imports them;
# a library imported already is quietened through its logger.
NOISY_LIBRARY_LOGGERS = ("transformers", "diffusers", "optimum", "nncf")
QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "DIFFUSERS_VERBOSITY": "error", "DATASETS_VERBOSITY": "error",
             "TORCH_LOGS": "-all"}  # -all: torch's own loggers at ERROR ("No CUDA runtime is found" and the like)


class UserError(Exception):
    """Bad input: the message names the bad value and what is allowed."""


class ResourceError(Exception):
    """The machine lacks memory or disk for the work: the message names the path or stage, what it needs and what
    is available."""


RESOURCE_EXIT_CODE = 75  # EX_TEMPFAIL: the same command can succeed once memory or disk is freed


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; a KeyboardInterrupt so that every `finally` and `except BaseException`
    (the atomic outputs, subprocess cleanup) runs as it does for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_pending_signal: list[int] = []  # signals that arrived in this process (the handler below records them)


def raise_if_interrupted() -> None:
    """Raise ``Interrupted`` if a signal arrived, even one whose exception a library swallowed (raised while
    the main thread was in a finalizer or a broad ``except``); called before an output is moved into place."""
    if _pending_signal:
        raise Interrupted(_pending_signal[0])


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """The parser every entry point starts from: its module docstring as help, and ``-v``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help=f"show library warnings and the traceback of a failure (or set {DEBUG_ENV}=1)")
    return parser


def one_line(error: BaseException) -> str:
    """The reason in a library exception's message, on one line (OpenVINO prefixes its reason with
    "Exception from src/...cpp:NN:" and "Check '...' failed" lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(("Exception from", "Check '"))] or lines
    return (reasons[-1] if reasons else repr(error))[:300]


def is_verbose(argv: list[str]) -> bool:
    return any(flag in argv for flag in VERBOSE_FLAGS) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


# Some libraries decide how noisy to be when they are imported, and a stage module imports OpenVINO, NNCF and
# through it torch at its top, before its main() runs: the quiet defaults are therefore set as soon as this
# module is imported (every stage imports it before those), unless the command line or environment asks for
# verbosity. Variables the user set are kept.
if not is_verbose(sys.argv[1:]):
    for _name, _value in QUIET_ENV.items():
        os.environ.setdefault(_name, _value)

    def _interrupted_before_main(kind, value, trace, default=sys.excepthook):
        """Ctrl-C while the entry point is still importing its libraries (seconds): one line too."""
        if issubclass(kind, KeyboardInterrupt):
            print("error: interrupted by SIGINT before it started: nothing was written", file=sys.stderr)
        else:
            default(kind, value, trace)

    sys.excepthook = _interrupted_before_main


@contextlib.contextmanager
def entry_point_setup(verbose: bool) -> Iterator[None]:
    """Logging on stderr, library noise filtered, SIGINT/SIGTERM as ``Interrupted``; all undone on exit
    (entry points also run in-process, from tests)."""
    with contextlib.ExitStack() as undo:
        def set_level(logger: logging.Logger, level: int) -> None:
            undo.callback(logger.setLevel, logger.level)
            logger.setLevel(level)

        # One handler, on the root logger: this project's messages at INFO (DEBUG with -v); other libraries'
        # records that reach the root only at ERROR (INFO with -v).
        root = logging.getLogger()
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
        root.addHandler(handler)
        undo.callback(root.removeHandler, handler)
        set_level(root, logging.INFO if verbose else logging.ERROR)
        for name in OWN_LOGGERS:
            set_level(logging.getLogger(name), logging.DEBUG if verbose else logging.INFO)

        undo.enter_context(warnings.catch_warnings())
        if verbose:
            warnings.simplefilter("default")  # each warning once per place, whatever filters were set before
            logging.captureWarnings(True)
            undo.callback(logging.captureWarnings, False)
        else:
            warnings.simplefilter("ignore")
            for name, value in QUIET_ENV.items():
                if name not in os.environ:
                    os.environ[name] = value
                    undo.callback(os.environ.pop, name, None)
            for name in NOISY_LIBRARY_LOGGERS:
                # a logger the library has not created yet is left alone: NNCF installs its own logger class
                if isinstance(logging.Logger.manager.loggerDict.get(name), logging.Logger):
                    set_level(logging.getLogger(name), logging.ERROR)

        entry_point_pid = os.getpid()

        def interrupt(signum, frame):
            if os.getpid() != entry_point_pid:
                # a forked child (OpenVINO's telemetry sender, which its parent terminates when it cannot reach
                # the network) inherits this handler: it ends as the signal's default would, without a traceback
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
                return
            _pending_signal.append(signum)
            raise Interrupted(signum)

        undo.callback(_pending_signal.clear)

        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue  # started with the signal ignored (nohup, a background job): keep it so
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                undo.callback(signal.signal, signum, signal.signal(signum, interrupt))
        yield


def main_with_clear_errors(main: Callable[[list[str] | None], object]) -> Callable[[list[str] | None], int]:
    """Wrap an entry point's ``main(argv)``: the setup above, and every failure as one line on stderr."""

    from ov_diffusion_quant.common.telemetry import declined_without_consent_file

    declined_without_consent_file()  # before main imports OpenVINO or NNCF (the stages' package did it earlier)

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        verbose = is_verbose(argv)
        with entry_point_setup(verbose):
            try:
                result = main(argv)
                raise_if_interrupted()  # the signal's exception was swallowed on the way: still an interrupted run
            except UserError as error:
                return _fail(f"error: {error}", 2, verbose)
            except ResourceError as error:
                return _fail(f"error: {error}", RESOURCE_EXIT_CODE, verbose)
            except Interrupted as interrupted:
                return _interrupted(interrupted.signum, verbose)
            except KeyboardInterrupt:  # raised before the handler was installed, or by a library
                return _interrupted(signal.SIGINT, verbose)
            except (SystemExit, GeneratorExit):
                raise
            except Exception as error:  # noqa: BLE001 - unanticipated: still one line, the traceback on request
                if _pending_signal:  # the signal's exception came back as another one (through OpenVINO's C++)
                    return _interrupted(_pending_signal[0], verbose)
                hint = "" if verbose else " (unexpected: re-run with -v for the traceback)"
                return _fail(f"error: {type(error).__name__}: {one_line(error)}{hint}", 1, verbose)
        return result if isinstance(result, int) else 0

    return wrapper


def _interrupted(signum: int, verbose: bool) -> int:
    return _fail(f"error: interrupted by {signal.Signals(signum).name}: what was being written was discarded; "
                 "run it again", 128 + signum, verbose)


def _fail(message: str, code: int, verbose: bool) -> int:
    """The one line, printed last (not through logging: no prefix even with -v)."""
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print(message, file=sys.stderr, flush=True)
    return code
