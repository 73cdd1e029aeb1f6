"""``autocode users`` (accounts of a team server) and ``autocode serve`` (the team server)."""

from __future__ import annotations

import ipaddress
import re
import sys
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..app import accounts
from ..app.team import Team
from ..errors import InputError
from ..web import team as team_web
from .app import JsonOpt, WorkspaceOpt, _Group, app, console, open_workspace

users_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Accounts of the team server: add, list, disable, enable, password, role.")
app.add_typer(users_app, name="users")



class Role(str, Enum):
    owner = "owner"
    coder = "coder"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, None: 1}


def read_password() -> str:
    """The new password: asked twice, hidden, on a terminal; else one line of stdin."""
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    if not line.strip():
        raise InputError("no password on stdin", hint="pipe one line, e.g. `autocode users add NAME < password.txt`")
    return line.rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The account's name: the coder name its answers are stored under.")],
    role: Annotated[Role, typer.Option(help="owner (also sees progress and agreement, sets the overlap) or coder.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Add an account. The password is asked twice (hidden), or read as one line from stdin; never an argument."""
    ws = open_workspace(workspace)
    accounts.add_user(ws.store, name, role.value, read_password())
    console.print(f"Account [bold]{escape(name.strip())}[/] added ({role.value}).")


@users_app.command("list")
def users_list(workspace: WorkspaceOpt = None, json_out: JsonOpt = False) -> None:
    """List the accounts (never their passwords)."""
    users = accounts.list_users(open_workspace(workspace).store)
    if json_out:
        console.print_json(data=users)
        return
    if not users:
        console.print("No accounts yet: add one with `autocode users add NAME --role owner`.")
        return
    table = Table("name", "role", "state", "created")
    for u in users:
        table.add_row(escape(u["name"]), u["role"], "disabled" if u["disabled"] else "active", u["created_at"])
    console.print(table)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="The account to disable.")],
                  workspace: WorkspaceOpt = None) -> None:
    """Disable an account: its logins end at once, and it can no longer log in."""
    accounts.disable_user(open_workspace(workspace).store, name)
    console.print(f"Account [bold]{escape(name)}[/] disabled; its logins have ended.")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="The account to enable.")],
                 workspace: WorkspaceOpt = None) -> None:
    """Let a disabled account log in again."""
    accounts.enable_user(open_workspace(workspace).store, name)
    console.print(f"Account [bold]{escape(name)}[/] enabled.")


@users_app.command("password")
def users_password(name: Annotated[str, typer.Argument(help="The account whose password to change.")],
                   workspace: WorkspaceOpt = None) -> None:
    """Set a new password (asked twice, hidden, or one line of stdin); the account's logins end."""
    accounts.set_password(open_workspace(workspace).store, name, read_password())
    console.print(f"Password of [bold]{escape(name)}[/] changed; its logins have ended.")


@users_app.command("role")
def users_role(name: Annotated[str, typer.Argument(help="The account.")],
               role: Annotated[Role, typer.Argument(help="owner or coder.")],
               workspace: WorkspaceOpt = None) -> None:
    """Make an account an owner or a coder."""
    accounts.set_role(open_workspace(workspace).store, name, role.value)
    console.print(f"Account [bold]{escape(name)}[/] is now {role.value}.")


def parse_seconds(text: str) -> int:
    """``15m``, ``900s``, ``1h`` or ``900`` (seconds) as seconds."""
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r}: give a duration such as 15m, 900s or 1h", param_hint="--lease")
    return round(float(m.group(1)) * _UNITS[m.group(2)])


def parse_share(text: str) -> tuple[str | None, float]:
    """``20%``, ``0.2``, or ``GROUP=50%`` as (group or None, share in [0, 1])."""
    group, sep, value = text.rpartition("=")
    value = value.strip()
    try:
        share = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise typer.BadParameter(f"{text!r}: give a share as 20% or 0.2, for one group as GROUP=50%",
                                 param_hint="--overlap")
    if sep and not group.strip():
        raise typer.BadParameter(f"{text!r}: name the group before '='", param_hint="--overlap")
    return (group.strip() if sep else None), share


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback only when you name it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8000,
    lease: Annotated[str, typer.Option(help="How long a coder holds a segment before it goes back to the pool.")] = "15m",
    overlap: Annotated[list[str] | None, typer.Option(
        help="Share of segments coded twice: 20% or 0.2; GROUP=50% for one group (repeatable).")] = None,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies",
                                                 help="Secure cookies: use it when a proxy serves https.")] = False,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="A host name people reach the server by (repeatable), e.g. code.example.org.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the project to a team: accounts log in, code, and owners watch progress and agreement."""
    lease_seconds = parse_seconds(lease)
    shares = [parse_share(s) for s in overlap or []]
    if not is_loopback(host):
        console.print(f"Listening on {escape(host)}, beyond this computer: put TLS in front (a reverse proxy such "
                      "as Caddy or nginx; see docs/team-server.md) and pass --secure-cookies when it serves https.",
                      highlight=False)
        if not allow_host:
            console.print("Only requests naming 127.0.0.1, localhost or the --host address are answered: name the "
                          "host people use with --allow-host NAME.", highlight=False)
    ws = open_workspace(workspace)
    users = [u for u in accounts.list_users(ws.store) if not u["disabled"]]
    if not users:
        raise InputError("no accounts yet, so nobody could log in",
                         hint="add one with `autocode users add NAME --role owner`")
    with console.status("Preparing the project (embedding segments, training the first model)..."):
        team = Team.open(ws, lease_seconds=lease_seconds)
    try:
        for group, share in shares:
            team.set_overlap(share, group)

        def ready(bound: str, bound_port: int) -> None:
            shown = "127.0.0.1" if bound in team_web.WILDCARD_HOSTS else bound
            console.print(f"Team server on http://{escape(shown)}:{bound_port}/ for {len(users)} "
                          f"account{'s' if len(users) != 1 else ''} "
                          "(Ctrl+C to stop; every answer is saved as it is given).", highlight=False)

        team_web.serve(team, ws.store, host, port, secure_cookies=secure_cookies, allowed_hosts=allow_host or (),
                       on_ready=ready)
    finally:
        team.close()
        console.print("Team server stopped.")
