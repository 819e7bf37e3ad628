"""`script/demo --help` says what every option does and what it defaults to."""

from __future__ import annotations

import re

import pytest

from demo.cli import _parser, options_from
from demo.runner import DemoOptions


def test_every_option_says_what_it_does_and_its_default() -> None:
    parser = _parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{action.option_strings} has no help"
        if action.default not in (None, False):
            assert "default:" in action.help, f"{action.option_strings} hides its default"
    text = parser.format_help()
    defaults = DemoOptions()
    for shown in (defaults.ha_port, defaults.bambuddy_port, defaults.filaman_port):
        assert re.search(rf"default: {shown}\b", text)
    assert "default: 180" in text  # the print interval


def test_free_ports_and_intervals_reach_the_demo() -> None:
    options = options_from(["--free-ports", "--print-every", "0", "--for", "30"])
    assert (options.ha_port, options.bambuddy_port, options.filaman_port) == (0, 0, 0)
    assert (options.print_every, options.run_for) == (0.0, 30.0)


def test_a_wrong_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        options_from(["--ports", "1"])
    assert "unrecognized arguments" in capsys.readouterr().err
