#!/usr/bin/env python3
"""End-to-end checks of `nimbus image` and of the image cache of `nimbus run PROGRAM`.

usage: image_tool.py --nimbus PATH [--cc CC] --work DIR CASE

Each CASE runs the real runner on host programs and checks exit statuses, the fixed error
messages of docs/runner.md, and the image's contents through `nimbus image --check/--list`
(never QEMU: `nimbus run --dry-run` builds the image and prints the QEMU command).
"""
import argparse
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile

RUNNER_ERROR = 125


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(args, env=None):
    # stdin /dev/null: the runner relays it (console.input=pipe), whatever ctest's stdin is.
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def listing(nimbus, image):
    """path -> (kind, target) from `nimbus image --list`."""
    status, out, err = run([nimbus, "image", "--list", image])
    check(status == 0, f"--list failed ({status}): {err}")
    entries = {}
    for line in out.splitlines():
        fields = line.split(" ")
        path, kind = fields[0], fields[1]
        target = line.split(" -> ", 1)[1].split(" links=")[0] if " -> " in line else None
        entries[path] = (kind, target)
    return entries


def resolve(entries, path, depth=0):
    """Follows symlinks inside the image, as the guest kernel will; returns the final path."""
    check(depth < 40, f"symlink loop at {path}")
    parts = [p for p in path.split("/") if p]
    current = ""
    for i, part in enumerate(parts):
        if part == ".":
            continue
        if part == "..":
            current = current.rsplit("/", 1)[0]
            continue
        candidate = current + "/" + part
        check(candidate in entries, f"{path}: {candidate} is not in the image")
        kind, target = entries[candidate]
        if kind == "symlink":
            rest = "/".join(parts[i + 1:])
            base = "" if target.startswith("/") else current
            return resolve(entries, base + "/" + target + ("/" + rest if rest else ""), depth + 1)
        current = candidate
    return current or "/"


def pt_interp(path):
    """The PT_INTERP string of an ELF64 file, or None."""
    with open(path, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:
            offset, = struct.unpack_from("<Q", data, phoff + i * phentsize + 8)
            size, = struct.unpack_from("<Q", data, phoff + i * phentsize + 32)
            return data[offset:offset + size].split(b"\0")[0].decode()
    return None


def expect_error(nimbus, args, fragment, status=RUNNER_ERROR):
    got, out, err = run([nimbus] + args)
    check(got == status, f"{args}: exit {got}, expected {status}; stderr: {err}")
    check(fragment in err, f"{args}: stderr lacks {fragment!r}: {err!r}")


def image_of(nimbus, work, program, *extra):
    out_path = os.path.join(work, os.path.basename(program) + ".img")
    status, out, err = run([nimbus, "image", *extra, "-o", out_path, program])
    check(status == 0, f"nimbus image {program} failed ({status}): {err}")
    check(out.startswith("image: ") and out.strip().endswith(out_path), f"summary line: {out!r}")
    status, out, err = run([nimbus, "image", "--check", out_path])
    check(status == 0 and "valid" in out, f"--check: {status} {out} {err}")
    return out_path


def case_image_true(args):
    """/bin/true: the program, its interpreter and libc, the symlinks on the way."""
    program = "/bin/true"
    image = image_of(args.nimbus, args.work, program)
    entries = listing(args.nimbus, image)
    real = os.path.realpath(program)
    check(entries.get(real, ("",))[0] == "file", f"{real} missing from the image")
    check(resolve(entries, program) == real, f"{program} does not lead to {real} in the image")
    interp = pt_interp(real)
    check(interp is not None, "/bin/true has no PT_INTERP")
    interp_real = os.path.realpath(interp)
    check(resolve(entries, interp) == interp_real,
          f"interpreter {interp} does not lead to {interp_real} in the image")
    check(entries[interp_real][0] == "file", f"{interp_real} is not a file in the image")
    # Every symlink of the host path is a symlink in the image, with the host's target.
    path = ""
    for part in [p for p in interp.split("/") if p]:
        path += "/" + part
        if os.path.islink(path):
            check(entries.get(path) == ("symlink", os.readlink(path)),
                  f"{path}: {entries.get(path)} in the image, symlink to {os.readlink(path)} on the host")
            break
    libc = [p for p, (kind, _) in entries.items() if p.endswith("/libc.so.6") and kind == "file"]
    check(libc, "no libc.so.6 file in the image")
    for directory in ("/tmp", "/dev", "/proc", "/sys"):
        check(entries.get(directory, ("",))[0] == "dir", f"{directory} missing")
    for f in ("/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf"):
        check(entries.get(f, ("",))[0] == "file", f"{f} missing")


def case_image_python(args):
    """python3: the interpreter profile brings the standard library and lib-dynload."""
    program = "/usr/bin/python3"
    if not os.path.exists(program):
        print("skipped: no /usr/bin/python3")
        return
    image = image_of(args.nimbus, args.work, program)
    entries = listing(args.nimbus, image)
    real = os.path.realpath(program)
    version = os.path.basename(real)
    tree = os.path.join(os.path.dirname(os.path.dirname(real)), "lib", version)
    check(resolve(entries, program) == real, "python3 symlink")
    check(entries.get(tree + "/os.py", ("",))[0] == "file", f"{tree}/os.py missing")
    dynload = [p for p in entries if p.startswith(tree + "/lib-dynload/")]
    check(dynload, "no lib-dynload modules")
    check(tree + "/test" not in entries, "the test suite should be left out")


def case_image_errors(args):
    """The documented one-line errors, exit status 125."""
    n, w = args.nimbus, args.work
    out = os.path.join(w, "x.img")
    expect_error(n, ["image", "-o", out, "/nonexistent/prog"], "program not found: /nonexistent/prog")
    expect_error(n, ["image", "-o", out, "no-such-program-anywhere"],
                 "program not found on PATH: no-such-program-anywhere")

    script = os.path.join(w, "script.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(script, 0o755)
    expect_error(n, ["image", "-o", out, script],
                 f"not an ELF file: {script} (scripts are not supported; run the interpreter instead)")

    text = os.path.join(w, "text")
    with open(text, "w") as f:
        f.write("hello\n")
    os.chmod(text, 0o755)
    expect_error(n, ["image", "-o", out, text], f"not an ELF file: {text}")

    # A 32-bit ELF header is enough: the class is checked first.
    elf32 = os.path.join(w, "elf32")
    with open(elf32, "wb") as f:
        f.write(b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack("<HHI", 2, 3, 1) + b"\0" * 32)
    os.chmod(elf32, 0o755)
    expect_error(n, ["image", "-o", out, elf32], f"32-bit ELF not supported: {elf32}")

    expect_error(n, ["image", "-o", out, "/bin/true", "extra"], "takes no program arguments")
    expect_error(n, ["image", "--check", text], "invalid image", status=1)
    check(not os.path.exists(out), "a failed build left an image behind")

    # A missing library, with a fixture built by the C compiler: a program linked against a
    # shared object that is then removed.
    cc = args.cc or shutil.which("cc")
    if not cc:
        print("skipped the missing-library check: no C compiler")
        return
    src = os.path.join(w, "gone.c")
    with open(src, "w") as f:
        f.write("int nimbus_gone(void) { return 0; }\n")
    main = os.path.join(w, "main.c")
    with open(main, "w") as f:
        f.write("int nimbus_gone(void);\nint main(void) { return nimbus_gone(); }\n")
    lib = os.path.join(w, "libnimbusgone.so")
    prog = os.path.join(w, "needs-gone")
    status, _, err = run([cc, "-shared", "-fPIC", "-o", lib, src])
    check(status == 0, f"cc -shared: {err}")
    status, _, err = run([cc, "-o", prog, main, lib])
    check(status == 0, f"cc: {err}")
    os.unlink(lib)
    expect_error(n, ["image", "-o", out, prog], f"libnimbusgone.so not found (needed by {prog})")


def case_image_static(args):
    """Static and static-PIE programs: the image holds the program and no loader or library."""
    cc = args.cc or shutil.which("cc")
    if not cc:
        print("skipped: no C compiler")
        return
    src = os.path.join(args.work, "hello.c")
    with open(src, "w") as f:
        f.write("int main(void) { return 0; }\n")
    built = 0
    for flag in ("-static", "-static-pie"):
        prog = os.path.join(args.work, "hello" + flag)
        status, _, err = run([cc, flag, "-o", prog, src])
        if status != 0:
            print(f"skipped {flag}: {err.strip().splitlines()[-1:]}")
            continue
        check(pt_interp(prog) is None, f"{flag} program has an interpreter")
        entries = listing(args.nimbus, image_of(args.nimbus, args.work, prog))
        files = sorted(p for p, (kind, _) in entries.items() if kind == "file" and not p.startswith("/etc/"))
        check(files == [os.path.realpath(prog)], f"{flag}: unexpected files {files}")
        built += 1
    if built == 0:
        print("skipped: no static C library")


def case_image_musl(args):
    """A musl program (Debian's musl package): its interpreter is its libc."""
    interp = "/lib/ld-musl-x86_64.so.1"
    libc = "/lib/x86_64-linux-musl/libc.so"
    cc = args.cc or shutil.which("cc")
    if not (os.path.exists(interp) and os.path.exists(libc) and cc):
        print("skipped: no musl or no C compiler")
        return
    src = os.path.join(args.work, "m.c")
    with open(src, "w") as f:
        f.write("int puts(const char *);\nvoid exit(int);\n"
                "void _start(void) { puts(\"hi\"); exit(0); }\n")
    prog = os.path.join(args.work, "musl-hello")
    status, _, err = run([cc, "-nostdlib", "-fPIE", "-pie", "-o", prog, src, libc,
                          "-Wl,-dynamic-linker," + interp])
    check(status == 0, f"cc: {err}")
    check(pt_interp(prog) == interp, "the fixture has the wrong interpreter")
    image = image_of(args.nimbus, args.work, prog)
    entries = listing(args.nimbus, image)
    libc_real = os.path.realpath(libc)
    check(resolve(entries, interp) == libc_real, f"{interp} does not lead to {libc_real}")
    check(not [p for p in entries if p.endswith("/libc.so.6")], "glibc in a musl image")


def case_image_manifest(args):
    """--manifest and --add: files land where asked; manifest errors carry line numbers."""
    n, w = args.nimbus, args.work
    data = os.path.join(w, "data")
    os.makedirs(os.path.join(data, "sub"), exist_ok=True)
    with open(os.path.join(data, "sub", "a.txt"), "w") as f:
        f.write("a\n")
    os.symlink("sub/a.txt", os.path.join(data, "link"))
    extra = os.path.join(w, "extra.conf")
    with open(extra, "w") as f:
        f.write("x=1\n")
    manifest = os.path.join(w, "app.manifest")
    with open(manifest, "w") as f:
        f.write("# test manifest\n\ndata:/srv/data\n")
    image = image_of(n, w, "/bin/true", "--manifest", manifest, "--add", extra + ":/etc/extra.conf")
    entries = listing(n, image)
    check(entries.get("/srv/data/sub/a.txt", ("",))[0] == "file", "manifest tree missing")
    check(entries.get("/srv/data/link") == ("symlink", "sub/a.txt"), "symlink inside the tree")
    check(entries.get("/etc/extra.conf", ("",))[0] == "file", "--add file missing")

    bad = os.path.join(w, "bad.manifest")
    with open(bad, "w") as f:
        f.write("# fine\ndata:relative/guest\n")
    expect_error(n, ["image", "--manifest", bad, "-o", os.path.join(w, "bad.img"), "/bin/true"],
                 f"{bad}:2: GUEST must be an absolute path")
    missing = os.path.join(w, "missing.manifest")
    with open(missing, "w") as f:
        f.write("\n\n/nonexistent/file\n")
    expect_error(n, ["image", "--manifest", missing, "-o", os.path.join(w, "bad.img"), "/bin/true"],
                 f"{missing}:3: /nonexistent/file: no such file or directory")


def dry_run(nimbus, cache, *args):
    env = dict(os.environ, NIMBUS_CACHE=cache)
    status, out, err = run([nimbus, "run", "--dry-run", *args], env=env)
    check(status == 0, f"dry run failed ({status}): {err}")
    argv = shlex.split(out)
    values = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("-")}
    return values, err


def case_run_image_cache(args):
    """nimbus run PROGRAM: the image in the cache, -initrd and -append, reuse, invalidation."""
    n, w = args.nimbus, args.work
    cache = os.path.join(w, "cache")
    values, err = dry_run(n, cache, "--env", "LANG=C.UTF-8", "/bin/true", "a", "b c", "it's")
    image = values.get("-initrd", "")
    check(image.startswith(cache + "/images/") and image.endswith(".img"), f"-initrd {image!r}")
    check(os.path.isfile(image), "the image is not in the cache")
    check("(cached)" not in err, f"first run reused an image: {err}")
    # The default network card's announcement (microvm transport 1) precedes " -- ".
    expected = ("console.input=pipe virtio_mmio.device=512@0xfeb00200:25 -- PATH=/usr/local/bin:/usr/bin:/bin "
                "HOME=/ TERM=dumb LANG=C.UTF-8 /bin/true a 'b c' 'it'\\''s'")
    check(values.get("-append") == expected, f"-append {values.get('-append')!r}, expected {expected!r}")
    memory = values.get("-m", "")
    check(memory.endswith("M") and int(memory[:-1]) > 128, f"-m {memory} does not grow with the image")
    status, _, _ = run([n, "image", "--check", image])
    check(status == 0, "the cached image is invalid")

    again, err = dry_run(n, cache, "/bin/true")
    check(again.get("-initrd") == image, "the same inputs did not reuse the image")
    check("(cached)" in err, f"no (cached) note: {err}")

    extra = os.path.join(w, "extra.txt")
    with open(extra, "w") as f:
        f.write("1\n")
    other, _ = dry_run(n, cache, "--add", extra, "/bin/true")
    check(other.get("-initrd") != image, "a new input kept the old image")
    os.utime(extra, (1, 1))
    newer, _ = dry_run(n, cache, "--add", extra, "/bin/true")
    check(newer.get("-initrd") not in (image, other.get("-initrd")), "an mtime change kept the image")

    given, _ = dry_run(n, cache, "--memory", "64M", "/bin/true")
    check(given.get("-m") == "64M", "--memory was overridden")

    # --initrd: no image is built; the program is a guest path.
    explicit, _ = dry_run(n, cache, "--initrd", image, "/usr/bin/app", "x")
    check(explicit.get("-initrd") == image, "--initrd not passed through")
    check(explicit.get("-append", "").endswith(" /usr/bin/app x"), f"{explicit.get('-append')!r}")
    expect_error(n, ["run", "--dry-run", "/nonexistent/prog"], "program not found: /nonexistent/prog")


def case_run_image_concurrent(args):
    """Two runs building the same image at once both succeed, and leave one valid image."""
    n, w = args.nimbus, args.work
    cache = os.path.join(w, "cache")
    env = dict(os.environ, NIMBUS_CACHE=cache)
    program = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "/bin/true"
    procs = [subprocess.Popen([n, "run", "--dry-run", program], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    images = set()
    for p in procs:
        out, err = p.communicate(timeout=300)
        check(p.returncode == 0, f"concurrent run failed: {err}")
        argv = shlex.split(out)
        images.add(argv[argv.index("-initrd") + 1])
    check(len(images) == 1, f"different images: {images}")
    image = images.pop()
    status, _, err = run([n, "image", "--check", image])
    check(status == 0, f"invalid image after concurrent builds: {err}")
    leftovers = [f for f in os.listdir(os.path.dirname(image)) if ".tmp" in f]
    check(not leftovers, f"temporary files left: {leftovers}")


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--cc")
    p.add_argument("--work", help="scratch directory (default: a temporary one)")
    p.add_argument("case", choices=sorted(CASES))
    args = p.parse_args()
    base = args.work or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    args.work = tempfile.mkdtemp(prefix=f"{args.case}-", dir=base)
    try:
        CASES[args.case](args)
    except Failure as e:
        print(f"image_tool: FAIL: {args.case}: {e}")
        return 1
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print(f"image_tool: ok: {args.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
