"""How `sq` prints: rich tables on stdout, progress on stderr only, a bar only on a terminal (no broker)."""

from __future__ import annotations

import io

import pytest

from sq.output import Activity, table


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, so the bar is drawn into it."""

    def isatty(self) -> bool:
        return True


def test_a_table_aligns_its_columns_as_plain_text_when_stdout_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    table(("bid qty", "bid", "ask"), [("0.25", "100.5", "102"), ("12.5", "99", "")], right={0, 1})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["bid", "qty", "bid", "ask"]
    assert set(lines[1]) == {"─"}  # the header's rule
    assert lines[2].split() == ["0.25", "100.5", "102"] and lines[3].split() == ["12.5", "99"]
    assert lines[2].index("100.5") + len("100.5") == lines[3].index("99") + len("99")  # right-aligned
    assert all(line == line.rstrip() and "\x1b" not in line for line in lines)


def test_table_cells_are_text_never_markup(capsys: pytest.CaptureFixture[str]) -> None:
    table(("name",), [("[bold]not bold[/bold] :smile:",)])
    assert "[bold]not bold[/bold] :smile:" in capsys.readouterr().out


def test_a_wide_table_is_neither_wrapped_nor_cut_for_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    table(("topic", "schema"), [("t" * 150, "s" * 150)])
    assert ("t" * 150) in capsys.readouterr().out.splitlines()[2]


def test_without_a_terminal_progress_is_plain_lines_on_stderr_and_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Activity("work", total=3) as activity:
        for done in range(3):
            activity.reached(done + 1)
        activity.status("3 done")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "  3 done\n"


def test_on_a_terminal_the_bar_is_drawn_there_and_stdout_stays_untouched(capsys: pytest.CaptureFixture[str]) -> None:
    terminal = _Terminal()
    with Activity("work", total=4, stderr=terminal) as activity:
        assert activity.bar is not None
        activity.reached(2)
        activity.status("half way")
        activity.bar.refresh()
        drawn = terminal.getvalue()
    assert "\x1b[" in drawn and "work" in drawn and "half way" in drawn and "2/4" in drawn
    assert capsys.readouterr() == ("", "")
