"""The command line's two consoles (stdout for results, stderr for errors and progress), one
pair for every command module."""

from __future__ import annotations

from rich.console import Console

console = Console(emoji=False)                 # ':b:' in a user's value is text, not an emoji
err_console = Console(stderr=True, emoji=False)
