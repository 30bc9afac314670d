"""The documentation stays true: every `python -m jaxssl.main`, `python -m jaxssl.report` and launch/ command of
README.md's and docs/'s shell blocks (and of the configs' and launchers' docstrings) parses against the flags
of the program it runs and builds a config that jaxssl.validate.check_config accepts, without training; every
relative link and #anchor resolves; every repository path a page or a docstring names exists; the README stays
short; and nothing speaks of how the project was made.

Shell handling: backslash continuations are joined, a console's `$ ` prompt and leading VAR=value assignments
are dropped, a line of assignments alone (C="...") sets variables, and `for X in a b c; do ... done` loops
run their body once per value. A command left with a `$` (a variable the block never sets, `$(...)`) is
skipped and counted; test_few_commands_are_skipped fails when more than a tenth are.
"""

import ast
import contextlib
import copy
import dataclasses
import glob
import importlib
import io
import os
import re
import shlex
import sys

import pytest
from absl import app, flags
from ml_collections import config_flags

import jaxssl.cli.distributed
import jaxssl.main  # noqa: F401  (defines the command line's absl flags)
import jaxssl.report.__main__  # noqa: F401  (defines the report's absl flags)
from jaxssl import validate
from jaxssl.evaluation import registry
from jaxssl.report import compare, reference
from jaxssl.report.runs import grid_point

# ml_collections reads each config file through importlib's deprecated load_module().
pytestmark = pytest.mark.filterwarnings("ignore:the load_module.. method is deprecated:DeprecationWarning")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, "launch")
README_MAX_LINES = 200


def pages() -> list[str]:
    """README.md and every markdown page under docs/, relative to the repository root."""
    found = glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    return ["README.md"] + sorted(os.path.relpath(page, ROOT) for page in found)


def python_files() -> list[str]:
    """The package's, the configs', the launchers' and the benchmarks' .py files, relative to the root."""
    return sorted(
        os.path.relpath(path, ROOT)
        for folder in ("jaxssl", "configs", "launch", "benchmarks")
        for path in glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True)
    )


def read(path: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------------------
# Shell blocks -> commands

FENCE = re.compile(r"^\s*```\s*(\S*)\s*$")
SHELL_LANGUAGES = ("", "bash", "sh", "shell", "console")
LOOP = re.compile(r"for (\w+) in ([^;]*); do\b\s*(.*)$")
DONE = re.compile(r"(?:^|;)\s*done\b;?")
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=")
PYTHONS = ("python", "python3")


@dataclasses.dataclass(frozen=True)
class Command:
    where: str  # page:line of the command's first line
    program: str  # "jaxssl.main", "jaxssl.report" or a launcher's path, e.g. "launch/sweep.py"
    args: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Skipped:
    where: str
    text: str  # the command, with the `$` that was left in it


def fenced_shell_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(1-based line of the block's first line, its lines) of every fenced block in a shell language."""
    blocks, language, start, lines = [], None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and language is None:
            language, start, lines = fence.group(1), number + 1, []
        elif fence and line.strip() == "```":
            if language in SHELL_LANGUAGES:
                blocks.append((start, lines))
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def logical_lines(first: int, lines: list[str]) -> list[tuple[int, str]]:
    """(line number, text) with backslash continuations joined and a console's `$ ` prompt dropped."""
    joined, pending, start = [], "", first
    for number, line in enumerate(lines, start=first):
        if not pending:
            start = number
            line = line.removeprefix("$ ")
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append((start, pending + line))
        pending = ""
    if pending:
        joined.append((start, pending))
    return joined


def substituted(text: str, variables: dict[str, str]) -> str:
    """$NAME and ${NAME} replaced by the variables the block set; unknown ones left as they are."""
    return VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def simple_commands(text: str) -> list[list[str]]:
    """The words of each command of a line, split at ; && || | & (comments dropped)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands, words = [], []
    for token in lexer:
        if token and set(token) <= set(";&|"):
            commands.append(words)
            words = []
        else:
            words.append(token)
    return [words for words in commands + [words] if words]


def program_of(words: list[str]) -> tuple[str, list[str]] | None:
    """(program, its arguments) of a command that runs jaxssl.main, jaxssl.report or a launcher; else None."""
    for index, word in enumerate(words):
        after = words[index + 1 :]
        if word in PYTHONS and after[:1] == ["-m"] and after[1:2] in (["jaxssl.main"], ["jaxssl.report"]):
            return after[1], after[2:]
        if word.startswith(("launch/", "./launch/")):
            return os.path.normpath(word), after
    return None


def loop_body(number: int, rest: str, pending: list[tuple[int, str]]):
    """The body of a `for` loop whose `do` is followed by `rest`, its lines taken from `pending` up to its
    `done`, and the text after that `done`."""
    body, line = [], (number, rest)
    while True:
        end = DONE.search(line[1])
        if end:
            body.append((line[0], line[1][: end.start()]))
            return body, (line[0], line[1][end.end() :])
        body.append(line)
        assert pending, f"line {number}: a for loop without done"
        line = pending.pop(0)


def block_commands(page: str, lines: list[tuple[int, str]], variables: dict[str, str]):
    """(commands, skipped commands) of logical lines, with loops run and assignments applied."""
    commands, skipped, pending = [], [], list(lines)
    while pending:
        number, text = pending.pop(0)
        loop = LOOP.match(text.strip())
        if loop:
            name, values, rest = loop.groups()
            body, after = loop_body(number, rest, pending)
            for value in shlex.split(substituted(values, variables)):
                found, missed = block_commands(page, body, {**variables, name: value})
                commands += found
                skipped += missed
            pending.insert(0, after)
            continue
        for words in simple_commands(substituted(text, variables)):
            if all(ASSIGNMENT.match(word) for word in words):
                variables.update(word.split("=", 1) for word in words)
                continue
            found = program_of(words)
            if found is None:
                continue
            program, args = found
            if any("$" in arg for arg in args):
                skipped.append(Skipped(f"{page}:{number}", shlex.join(words)))
            else:
                commands.append(Command(f"{page}:{number}", program, tuple(args)))
    return commands, skipped


def page_commands(page: str):
    commands, skipped = [], []
    for first, lines in fenced_shell_blocks(read(page)):
        found, missed = block_commands(page, logical_lines(first, lines), {})
        commands += found
        skipped += missed
    return commands, skipped


def docstring_commands(path: str):
    """The commands of a Python file's module docstring: its lines that start with `python ` or `launch/`,
    with their continuations (the other lines blanked, so that line numbers stay the file's)."""
    module = ast.parse(read(path))
    docstring = ast.get_docstring(module, clean=False) or ""
    kept, continued = [], False
    for line in docstring.splitlines():
        keep = continued or line.strip().startswith(("python ", "launch/"))
        kept.append(line.strip() if keep else "")
        continued = keep and line.endswith("\\")
    return block_commands(path, logical_lines(module.body[0].lineno if docstring else 1, kept), {})


def documented_commands():
    sources = [page_commands(page) for page in pages()]
    for pattern in ("configs/*.py", "launch/*.py"):
        paths = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))
        sources += [docstring_commands(path) for path in paths]
    return [c for found, _ in sources for c in found], [s for _, missed in sources for s in missed]


COMMANDS, SKIPPED = documented_commands()


# ---------------------------------------------------------------------------------------------------------
# Checking a command without running it


def fresh_flags(module: str) -> flags.FlagValues:
    """A private copy of the absl flags a module defines (parsing it leaves the global FLAGS alone)."""
    values = flags.FlagValues()
    for flag in flags.FLAGS.get_flags_for_module(module):
        if flag.name != "config":
            values[flag.name] = copy.deepcopy(flag)
            values[flag.name].unparse()
    return values


def check_main(args: list[str]) -> None:
    """What `python -m jaxssl.main ARGS` checks before it trains, evaluates or exports: the flags and their
    values, the config file with its options and --config.* overrides (jaxssl.main's lock_config=True), the
    config's validity, the evaluation request and the distributed flags (the flags' own checks, such as
    --workdir's required=True, come with the copies)."""
    argv = ["jaxssl.main", *args]
    values = fresh_flags("jaxssl.main")
    config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True, sys_argv=argv)
    leftover = values(argv)[1:]
    assert not leftover, f"unexpected arguments {leftover}"
    if values.mode == "train":
        assert values.config is not None, "--config is required to train"
    if values.config is not None:
        validate.check_config(values.config)
    if values.mode == "evaluate":
        registry.check_request(
            tuple(values.protocol), values.eval_features, values.eval_init, values.label_fraction
        )
    jaxssl.cli.distributed.distributed_options(
        values.distributed, values.coordinator_address, values.num_processes, values.process_id
    )


def check_report(args: list[str]) -> None:
    """What `python -m jaxssl.report ARGS` checks before it reads the runs: its flags, at least one run
    directory, the --knn points, the --compare pairs and the --reference file."""
    values = fresh_flags("jaxssl.report.__main__")
    run_directories = values(["jaxssl.report", *args])[1:]
    assert run_directories, "name at least one run directory or glob"
    for point in values.knn:
        grid_point(point)
    compare.parse_pairs(values.compare)
    if values.reference:
        reference.load(os.path.join(ROOT, values.reference))


SHIFT = re.compile(r"^((?:\w+=\$\d+; )+)shift (\d+)$", re.MULTILINE)
SCRIPT_MAIN = re.compile(r"python -m jaxssl\.main (.*)$", re.MULTILINE)
# How the shell launchers pass on the arguments after their positional ones.
SCRIPT_REST = ('"$@"', "$extra")


def shell_launcher_main_args(path: str, args: list[str]) -> list[str]:
    """The jaxssl.main arguments a shell launcher runs with: its `name=$1; ...; shift N` line names its
    positional arguments, its `python -m jaxssl.main ...` line says where they go, the rest follow."""
    script = read(path)
    shift, line = SHIFT.search(script), SCRIPT_MAIN.search(script)
    assert shift and line, f"{path} has no `name=$1; ...; shift N` line or no jaxssl.main command"
    count = int(shift.group(2))
    assert len(args) >= count, f"{path} takes {count} positional arguments, got {args}"
    command = line.group(1)
    if command.count('"') % 2:  # tpu_pod.sh's command closes gcloud's quoted --command=
        command = command.removesuffix('"')
    for rest in SCRIPT_REST:
        command = command.replace(rest, " " + shlex.join(args[count:]))
    for name, position in re.findall(r"(\w+)=\$(\d+)", shift.group(1)):
        command = command.replace(f"${name}", args[int(position) - 1])
    return shlex.split(command)


def python_launcher(path: str):
    """launch/NAME.py as a module (launch/ is not a package)."""
    if LAUNCH not in sys.path:
        sys.path.insert(0, LAUNCH)
    return importlib.import_module(os.path.splitext(os.path.basename(path))[0])


def planned_commands(path: str, args: list[str]) -> list[Command]:
    """The commands a Python launcher prints with --print (its argparse parsing and its checks, running
    nothing), which are checked in turn."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            python_launcher(path).main(["--print", *args])
    except SystemExit as error:
        pytest.fail(f"{path} refuses {shlex.join(args)}: {err.getvalue().strip() or error}")
    planned = []
    for line in dict.fromkeys(out.getvalue().splitlines()):
        found = program_of(shlex.split(line))
        assert found, f"{path} printed {line!r}, which runs neither jaxssl.main nor jaxssl.report"
        planned.append(Command(path, found[0], tuple(found[1])))
    return planned


def check(command: Command) -> None:
    if command.program == "jaxssl.main":
        check_main(list(command.args))
    elif command.program == "jaxssl.report":
        check_report(list(command.args))
    elif not os.path.isfile(os.path.join(ROOT, command.program)):
        pytest.fail(f"no launcher {command.program}")
    elif command.program.endswith(".py"):
        for planned in planned_commands(command.program, list(command.args)):
            check(planned)
    else:
        check_main(shell_launcher_main_args(command.program, list(command.args)))


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.where}:{c.program}" for c in COMMANDS])
def test_a_documented_command_parses_and_builds_a_valid_config(command, monkeypatch):
    monkeypatch.chdir(ROOT)
    try:
        check(command)
    except Exception as error:
        pytest.fail(
            f"{command.where}: {command.program} {shlex.join(command.args)}\n{type(error).__name__}: {error}"
        )


def test_few_commands_are_skipped():
    assert len(COMMANDS) >= 200, len(COMMANDS)
    assert len(SKIPPED) * 10 <= len(COMMANDS), [dataclasses.astuple(s) for s in SKIPPED]


def test_every_launcher_has_a_documented_command():
    launchers = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(LAUNCH, "*")) if os.path.isfile(p)}
    assert launchers <= {command.program for command in COMMANDS}


def test_the_shell_handling_runs_loops_and_variables_and_skips_what_it_cannot_expand():
    block = [
        'C="--config=configs/quickstart.py:method=simclr \\',
        '   --config.seed=1"',
        "for s in 0 1; do python -m jaxssl.main $C --workdir=runs/x$s; done",
        "for M in a b; do",
        "  CUDA_VISIBLE_DEVICES=0 python -m jaxssl.main --workdir=runs/${M}_1 &",
        "done; wait",
        "$ python -m jaxssl.report 'runs/*' && python -m jaxssl.main --workdir=$(pwd)",
    ]
    commands, skipped = block_commands("page", logical_lines(1, block), {})
    config = ("--config=configs/quickstart.py:method=simclr", "--config.seed=1")
    assert [(c.where, c.program, c.args) for c in commands] == [
        ("page:3", "jaxssl.main", (*config, "--workdir=runs/x0")),
        ("page:3", "jaxssl.main", (*config, "--workdir=runs/x1")),
        ("page:5", "jaxssl.main", ("--workdir=runs/a_1",)),
        ("page:5", "jaxssl.main", ("--workdir=runs/b_1",)),
        ("page:7", "jaxssl.report", ("runs/*",)),
    ]
    assert [s.where for s in skipped] == ["page:7"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--config=configs/simclr.py", "--workdir=w", "--config.train.bacth_size=8"], "bacth_size"),
        (["--config=configs/simclr.py:datset=cifar10", "--workdir=w"], "datset"),
        (
            ["--config=configs/simclr.py", "--workdir=w", "--mode=evaluate", "--protocol=knn,nearest"],
            "nearest",
        ),
        (["--config=configs/simclr.py", "--workdir=w", "--eval_feature=pixels"], "eval_feature"),
        (
            ["--config=configs/simclr.py", "--workdir=w", "--config.augment.preset=multicrop"],
            "min_crop_scale",
        ),
        (["--config=configs/simclr.py"], "--workdir must have a value"),
        (["--mode=evaluate", "--workdir=w", "runs/extra"], "unexpected arguments"),
        (
            ["--config=configs/simclr.py", "--workdir=w", "--distributed", "--num_processes=2"],
            "come together",
        ),
    ],
)
def test_a_wrong_command_is_refused(args, error, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(
        (AssertionError, ValueError, AttributeError, KeyError, flags.Error, app.UsageError)
    ) as raised:
        check_main(args)
    assert error in str(raised.value)


# ---------------------------------------------------------------------------------------------------------
# Links, paths, length and wording

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE = re.compile(r"^\s*```.*?^\s*```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """A page without its fenced blocks and inline code, where link-like text is not a link."""
    return INLINE_CODE.sub("", CODE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its rendered text lowercased, punctuation but - and _ dropped, spaces
    to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: str) -> set[str]:
    """Every heading's anchor of a page, repeated headings numbered -1, -2 ... as GitHub does."""
    seen, found = {}, set()
    for heading in HEADING.findall(CODE.sub("", read(page))):
        name = slug(heading)
        count = seen.get(name, 0)
        seen[name] = count + 1
        found.add(name if count == 0 else f"{name}-{count}")
    return found


def relative_links(page: str) -> list[str]:
    return [t for t in LINK.findall(prose(read(page))) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def link_problem(page: str, target: str) -> str | None:
    path, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
    if not os.path.exists(os.path.join(ROOT, resolved)):
        return f"{target}: {resolved} does not exist"
    if anchor and not resolved.endswith(".md"):
        return f"{target}: an anchor into {resolved}, which is not a markdown page"
    if anchor and anchor not in anchors(resolved):
        return f"{target}: {resolved} has no heading with the anchor #{anchor}"
    return None


LINKS = [(page, target) for page in pages() for target in relative_links(page)]


def test_every_relative_link_and_anchor_resolves():
    assert len(LINKS) >= 100, len(LINKS)
    problems = [f"{page}: {problem}" for page, target in LINKS if (problem := link_problem(page, target))]
    assert not problems, "\n".join(problems)


def test_slugs_follow_github():
    assert slug("MoCo v2") == "moco-v2"
    assert slug("The `supervised` baseline (labels only)") == "the-supervised-baseline-labels-only"
    assert slug("Backbones and their options") == "backbones-and-their-options"
    assert slug("SimCLR + FixMatch, 1 %") == "simclr--fixmatch-1-"


REPOSITORY_PATH = re.compile(
    r"(?<![\w/.-])(?:jaxssl|configs|launch|benchmarks|tests|docs|results|examples)/[\w./*-]*"
)
PATH_ENDINGS = (".py", ".md", ".sh", ".sbatch", ".json", ".jsonl", ".png", ".toml", ".cfg", "/")
# Paths that stand for any file of their kind.
PLACEHOLDER_PATHS = ("configs/x.py",)


def named_paths(path: str) -> list[str]:
    """The repository paths a file's text names (globs up to their first *), links aside."""
    text = re.sub(r"\]\([^)]*\)", "]", read(path))
    candidates = (match.rstrip(".,;:").split("*")[0] for match in REPOSITORY_PATH.findall(text))
    return [c for c in candidates if c.endswith(PATH_ENDINGS) and c not in PLACEHOLDER_PATHS]


def test_every_repository_path_a_page_or_a_module_names_exists():
    texts = pages() + python_files()
    missing = [
        f"{path}: {named}"
        for path in texts
        for named in named_paths(path)
        if not any(os.path.exists(os.path.join(ROOT, base, named)) for base in ("", os.path.dirname(path)))
    ]
    assert not missing, "\n".join(missing)


JAX_BUILD = re.compile(r"jax\[\w+\](?:==([\d.]+))?")


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_every_accelerator_install_keeps_the_pinned_jax():
    low, high = re.search(r"^\s*jax>=([\d.]+),<([\d.]+)\s*$", read("setup.cfg"), re.MULTILINE).groups()
    installs = [
        (page, command)
        for page in pages()
        for command in [line for _, lines in fenced_shell_blocks(read(page)) for line in lines]
        + INLINE_CODE.findall(CODE.sub("", read(page)))
        if "pip install" in command and "jax[" in command
    ]
    assert installs
    for page, command in installs:
        for pinned in JAX_BUILD.findall(command):
            assert pinned and version(low) <= version(pinned) < version(high), (page, command)


def test_a_module_docstring_with_continued_commands_keeps_its_backslashes():
    """A docstring's `\\` line ends are line continuations in a plain string: --help would join the lines."""
    joined = []
    for path in python_files():
        source = read(path)
        module = ast.parse(source)
        if ast.get_docstring(module) is not None:
            literal = ast.get_source_segment(source, module.body[0])
            if "\\\n" in literal and not literal.startswith(("r", "R")):
                joined.append(path)
    assert not joined


def test_the_readme_is_short():
    assert len(read("README.md").splitlines()) <= README_MAX_LINES


PROVENANCE = re.compile(r"\bissue|session|course|this machine", re.IGNORECASE)
# Citations of an upstream project's issue tracker.
UPSTREAM_CITATIONS = ("facebookresearch/dino issue #133",)
WORDED = ("README.md", "docs", "jaxssl", "configs", "launch", "benchmarks")


def text_files(top: str) -> list[str]:
    if os.path.isfile(os.path.join(ROOT, top)):
        return [top]
    found = []
    for folder, subfolders, names in os.walk(os.path.join(ROOT, top)):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        found += [os.path.relpath(os.path.join(folder, name), ROOT) for name in names]
    return sorted(found)


def test_nothing_speaks_of_how_the_project_was_made():
    lines = []
    for path in (path for top in WORDED for path in text_files(top)):
        try:
            text = read(path)
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if PROVENANCE.search(line) and not any(c in line for c in UPSTREAM_CITATIONS):
                lines.append(f"{path}:{number}: {line.strip()}")
    assert not lines, "\n".join(lines)
