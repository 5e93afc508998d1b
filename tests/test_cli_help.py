"""`--help` as a newcomer reads it: one example per command, a default for every valued option."""

import shlex

import click
import pytest
from click.testing import CliRunner

from edgesub.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_has_an_example_of_this_command(path, command):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.strip().startswith("Example") for line in lines), result.output
    examples = [line.strip() for line in lines if line.strip().startswith("edgesub ")]
    assert examples, result.output
    for example in examples:
        assert path[-1] in shlex.split(example), example


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_with_a_value_states_its_default(path, command):
    missing = [
        param.opts[0]
        for param in command.params
        if isinstance(param, click.Option)
        and not param.is_flag
        and param.opts[0] not in ("--set",)
        and not param.show_default
        and not param.required
        and "default" not in (param.help or "")
    ]
    assert missing == [], f"{' '.join(path)}: options without a stated default: {missing}"
    undocumented = [
        param.opts[0]
        for param in command.params
        if isinstance(param, click.Option) and not param.help and param.opts[0] != "--help"
    ]
    assert undocumented == [], f"{' '.join(path)}: options without help: {undocumented}"


def test_examples_parse_as_the_command_line_they_show():
    """Each example's options exist: click parses it up to running (--help appended)."""
    for path, _command in COMMANDS:
        text = CliRunner().invoke(cli, [*path, "--help"]).output
        for line in text.splitlines():
            if line.strip().startswith("edgesub "):
                words = shlex.split(line.strip())[1:]
                result = CliRunner().invoke(cli, [*words, "--help"])
                assert result.exit_code == 0, f"{line.strip()}: {result.output}"
