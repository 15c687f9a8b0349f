"""Command-line usage errors: status 2 and an `xensim: error:` line, nothing run."""

import pytest


@pytest.mark.parametrize("args,first_line", [
    (["frob"], "xensim: error: unknown command 'frob'"),
    (["boot"], "xensim: error: boot: which image?"),
    (["boot", "basic", "--seed", "abc"], "xensim: error: --seed needs a non-negative integer"),
    (["boot", "basic", "--seed", "-1"], "xensim: error: --seed needs a non-negative integer"),
    (["boot", "basic", "--seed", "18446744073709551616"],
     "xensim: error: --seed needs a non-negative integer"),
    (["boot", "basic", "--seed"], "xensim: error: --seed needs a non-negative integer"),
    (["boot", "basic", "--memory", "0"], "xensim: error: domain guest: memory 0 MiB outside "
                                         "1..65536"),
    (["boot", "basic", "--memory", "65537"], "xensim: error: domain guest: memory 65537 MiB "
                                             "outside 1..65536"),
    (["boot", "basic", "--memory", "64k"], "xensim: error: --memory needs a size in MiB"),
    (["boot", "basic", "--vcpus", "999"], "xensim: error: --vcpus needs a count from 1 to 128"),
    (["boot", "basic", "--vcpus", "0"], "xensim: error: domain guest: 0 vCPUs outside 1..128"),
    (["boot", "basic", "--hypercalls", "int80"],
     "xensim: error: --hypercalls is 'direct' or 'vmcall'"),
    (["boot", "basic", "extra"], "xensim: error: boot: unexpected argument 'extra'"),
    (["boot", "basic", "--bogus"], "xensim: error: boot: unexpected argument '--bogus'"),
    (["run"], "xensim: error: run: which scenario file?"),
    (["run", "scenarios/pvh-boot.scn", "--seed", "x"],
     "xensim: error: --seed needs a non-negative integer"),
    (["trace"], "xensim: error: usage: xensim trace dump FILE"),
    (["trace", "load", "f"], "xensim: error: usage: xensim trace dump FILE"),
])
def test_usage_error(run, args, first_line):
    res = run(args)
    assert res.status == 2, res.describe()
    assert res.stderr.splitlines()[0] == first_line, res.describe()
    assert res.stdout == "", "nothing may run"


def test_no_arguments(run):
    """No arguments is a usage error like any other.

    It once printed the help text to stdout with nothing on stderr."""
    res = run([])
    assert res.status == 2, res.describe()
    assert res.stderr.startswith("xensim: error: "), res.describe()


def test_help(run):
    res = run(["help"])
    assert res.status == 0, res.describe()
    lines = res.stdout.splitlines()
    assert lines[0] == "xensim: a deterministic simulator of the Xen hypervisor interface"
    assert "  xensim trace dump FILE" in lines
    assert any(line.startswith("  xensim run FILE ") for line in lines)
    assert any(line.startswith("  xensim boot IMAGE ") for line in lines)
    assert res.stderr == ""
    assert run(["--help"]).stdout == res.stdout
