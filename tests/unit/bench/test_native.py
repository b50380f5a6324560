"""bench.native sorts perf's samples by process and by what the CPU ran: a library matched
by the wrong name (uvloop's file lives under python3.11/) or a kernel chain by the wrong
function would move core-seconds silently from one row to another."""

from collections import Counter

from bench.native import (
    KERNEL_OTHER,
    LIBC_COPY,
    Sample,
    parse_script,
    step_of,
    table,
    tally,
)

SITE = "/srv/venv/lib/python3.11/site-packages"


def record(head: str, *frames: str) -> str:
    """One sample as ``perf script`` prints it: a head line with trailing spaces, then a
    tab-indented line per frame, then a blank line."""
    return f"{head}     \n" + "".join(f"\t{frame}\n" for frame in frames) + "\n"


SCRIPT = (
    record("python 4100/4107", "      29c51a [unknown] (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)")
    + record(
        "python 4200/4200",
        "ffffffff81c3a1f0 _copy_from_iter ([kernel.kallsyms])",
        "ffffffff81f0a2b1 skb_copy_to_page_nocache ([kernel.kallsyms])",
        "ffffffff81f4c7e0 tcp_sendmsg_locked ([kernel.kallsyms])",
        "ffffffff81f4d001 tcp_sendmsg ([kernel.kallsyms])",
        "ffffffff81e8a221 sock_write_iter ([kernel.kallsyms])",
        "ffffffff816f1a02 vfs_write ([kernel.kallsyms])",
        f"      0a1b2c uv__write ({SITE}/uvloop/loop.cpython-311-x86_64-linux-gnu.so)",
    )
    + record(
        "swapper     0/0",
        "ffffffff8224379b pv_native_safe_halt ([kernel.kallsyms])",
        "ffffffff822452b5 default_idle ([kernel.kallsyms])",
    )
    + record(
        "curl 4300/4300",
        "ffffffff81c764e4 clear_page_erms ([kernel.kallsyms])",
        "ffffffff81608803 do_anonymous_page ([kernel.kallsyms])",
        "ffffffff8160b3b3 handle_mm_fault ([kernel.kallsyms])",
        "ffffffff81000c82 asm_exc_page_fault ([kernel.kallsyms])",
        "      14e1a0 __memmove_avx512_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)",
    )
)


def frames(*pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple((pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2))


def test_script_is_parsed_into_samples_innermost_frame_first() -> None:
    samples = list(parse_script(SCRIPT.splitlines()))
    assert [(s.comm, s.pid, len(s.frames)) for s in samples] == [
        ("python", 4100, 1),
        ("python", 4200, 7),
        ("swapper", 0, 2),
        ("curl", 4300, 5),
    ]
    assert samples[1].frames[0] == ("_copy_from_iter", "[kernel.kallsyms]")
    assert samples[1].frames[-1][1].endswith("loop.cpython-311-x86_64-linux-gnu.so")


def test_each_sample_is_given_what_the_cpu_ran() -> None:
    steps = [step_of(s) for s in parse_script(SCRIPT.splitlines())]
    assert steps == [
        "SHA-256 (OpenSSL)",
        "kernel: sockets (TCP over loopback)",
        None,  # an idle CPU is not counted
        "kernel: page faults",  # a fault inside a copy counts as the fault
    ]


def test_libraries_are_told_apart_by_their_file_name() -> None:
    def leaf(symbol: str, library: str) -> str | None:
        return step_of(Sample("python", 1, frames(symbol, library)))

    assert leaf("uv__read", f"{SITE}/uvloop/loop.cpython-311-x86_64-linux-gnu.so") == (
        "uvloop, libuv"
    )
    assert leaf("_PyEval_EvalFrameDefault", "/usr/lib/libpython3.11.so.1.0") == (
        "Python interpreter"
    )
    assert leaf("__memmove_avx512_unaligned_erms", "/usr/lib/libc.so.6") == LIBC_COPY
    assert leaf("malloc", "/usr/lib/libc.so.6") == "other user-space code"
    assert leaf("sqlite3VdbeExec", "/usr/lib/libsqlite3.so.0.8.6") == "SQLite"


def test_kernel_functions_match_from_their_start_only() -> None:
    def chain(*calls: str) -> str | None:
        return step_of(Sample("python", 1, tuple((c, "[kernel.kallsyms]") for c in calls)))

    assert chain("ext4_da_write_begin", "vfs_write", "ksys_write") == "kernel: files and disk"
    assert chain("__x64_sys_futex", "do_syscall_64") == (
        "kernel: waking and switching threads (futex, epoll)"
    )
    # "skip_" and "strip_" hold "ip_" but are no part of the IP stack
    assert chain("strip_spaces", "skip_me") == KERNEL_OTHER


def test_samples_are_counted_per_service_client_and_other_work() -> None:
    services = {4100: "frontend", 4200: "nodes"}
    counts = tally(parse_script(SCRIPT.splitlines()), services)
    assert counts == {
        "frontend": Counter({"SHA-256 (OpenSSL)": 1}),
        "nodes": Counter({"kernel: sockets (TCP over loopback)": 1}),
        "client": Counter({"kernel: page faults": 1}),
    }
    # 1000 samples a second: each is a millisecond of a core; the services' column adds
    # the frontend and the nodes, not the client
    text = table(counts, rate=1000, gib=0.001)
    assert "| SHA-256 (OpenSSL) | 1.00 | 0.00 |" in text
    assert text.splitlines()[-1].endswith("| **2.00** |")
