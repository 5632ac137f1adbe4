"""cluster/Dockerfile builds SynaFlow on a Ray 2.60 / Python 3.11 base.

No Docker engine runs here, so the file is checked line by line: the order and
content of its instructions, and that it agrees with the versions installed in
this environment and with the KubeRay manifests that run the image.
"""
from __future__ import annotations

import re
import shlex

import pytest
import ray

KNOWN = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}
# The pip target: the current directory with the ray extra (and maybe others).
SYNAFLOW_SPEC = re.compile(r"""^["']?\.\[([a-z,]+)\]["']?$""")


def _pip_installs(dockerfile) -> list[list[str]]:
    """The argument lists of every `pip install` inside RUN instructions."""
    installs = []
    for inst in dockerfile:
        if inst.keyword != "RUN":
            continue
        lexer = shlex.shlex(inst.args, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        argv: list[str] = []
        for token in [*lexer, ";"]:
            if token in ("&&", "||", ";", "|"):
                if argv[:2] == ["pip", "install"] or argv[1:4] == ["-m", "pip", "install"]:
                    installs.append(argv)
                argv = []
            else:
                argv.append(token)
    return installs


def test_only_known_instructions(dockerfile):
    unknown = [(i.line, i.keyword) for i in dockerfile if i.keyword not in KNOWN]
    assert unknown == []


def test_from_comes_first(dockerfile):
    assert dockerfile[0].keyword == "FROM"
    assert sum(i.keyword == "FROM" for i in dockerfile) == 1, "single-stage image"


def test_base_image_matches_installed_ray(dockerfile):
    """Ray in the image is the Ray the tests ran against (or a plain Python 3.11)."""
    image = dockerfile[0].args.split()[0]
    ray_tag = re.fullmatch(r"rayproject/ray:(\d+\.\d+\.\d+)-py311(-cpu)?", image)
    if ray_tag:
        assert ray_tag.group(1) == ray.__version__
    else:
        assert image == "python:3.11-slim", image


def test_installs_synaflow_with_ray_extra(dockerfile):
    """`pip install ".[ray,arrow]"` from the copied source tree."""
    extras = [
        set(m.group(1).split(","))
        for argv in _pip_installs(dockerfile)
        for arg in argv
        if (m := SYNAFLOW_SPEC.match(arg))
    ]
    assert any({"ray", "arrow"} <= e for e in extras), _pip_installs(dockerfile)


def test_source_copied_into_workdir_before_install(dockerfile):
    keywords = [i.keyword for i in dockerfile]
    assert "WORKDIR" in keywords and "COPY" in keywords
    first_install = next(
        n for n, i in enumerate(dockerfile) if i.keyword == "RUN" and "pip install" in i.args
    )
    assert keywords.index("WORKDIR") < keywords.index("COPY") < first_install
    workdir = [i.args for i in dockerfile if i.keyword == "WORKDIR"][-1]
    assert workdir.startswith("/"), "an absolute WORKDIR, referenced by rayjob.yaml"


def test_no_ray_stop_or_root_user(dockerfile):
    assert not any("ray stop" in i.args for i in dockerfile)
    assert not any(i.keyword == "USER" and i.args.split(":")[0] in ("root", "0") for i in dockerfile)


def test_build_context_ignore_file(cluster_dir):
    """BuildKit reads cluster/Dockerfile.dockerignore for this Dockerfile."""
    patterns = (cluster_dir / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert "**/.git" in patterns and "**/__pycache__" in patterns


@pytest.mark.parametrize(
    "text, expected",
    [
        ("FROM x\n", [("FROM", "x")]),
        ("# c\n\nrun a \\\n  b \\\n# inside\n  c\n", [("RUN", "a b c")]),
        ("FROM x\nCOPY . ./\n", [("FROM", "x"), ("COPY", ". ./")]),
    ],
    ids=["single", "continuation-with-comment", "two"],
)
def test_parser(parse_dockerfile, text, expected):
    assert [(i.keyword, i.args) for i in parse_dockerfile(text)] == expected


def test_parser_rejects_dangling_continuation(parse_dockerfile):
    with pytest.raises(ValueError, match="continuation"):
        parse_dockerfile("RUN a \\\n")
