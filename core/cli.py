"""Command line: `db`, `user`, `venue`, `seed`, `translations` groups (flask --app app …)."""
from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from flask_babel import force_locale

from core.auth import AuthError, create_user, generate_password, issue_api_token
from core.clock import now
from core.db import db
from core.models import Role
from core.services import (
    VenueError,
    create_venue,
    list_venues,
    parse_closing_time,
    seed_demo,
)
from core.staff import (
    StaffError,
    get_user,
    list_users,
    set_user_active,
    set_user_venues,
    user_venues,
)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

ROOT = Path(__file__).resolve().parent.parent

db_cli = AppGroup("db", help="Database migrations (Alembic).")
user_cli = AppGroup("user", help="Staff accounts.")
venue_cli = AppGroup("venue", help="Venues.")
translations_cli = AppGroup("translations", help="Message catalogues.")
audit_cli = AppGroup("audit", help="The audit log.")


def alembic_config(database_url: str) -> AlembicConfig:
    # Alembic is imported only by the commands that migrate: `kiosk run` never needs its ~30 MB.
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option(
        "file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"
    )
    config.attributes["database_url"] = database_url
    return config


def _alembic() -> AlembicConfig:
    return alembic_config(current_app.extensions["db"].url)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision):
    """Migrate the database to REVISION (default: head)."""
    from alembic import command as alembic_command

    alembic_command.upgrade(_alembic(), revision)


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision):
    """Migrate the database down to REVISION (default: one step)."""
    from alembic import command as alembic_command

    alembic_command.downgrade(_alembic(), revision)


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
def db_revision(message, autogenerate):
    """Create a new migration."""
    from alembic import command as alembic_command

    alembic_command.revision(_alembic(), message=message, autogenerate=autogenerate)


@db_cli.command("current")
def db_current():
    """Show the database's revision."""
    from alembic import command as alembic_command

    alembic_command.current(_alembic(), verbose=False)


@db_cli.command("history")
def db_history():
    """List the migrations."""
    from alembic import command as alembic_command

    alembic_command.history(_alembic())


def bilingual(message) -> str:
    """Vietnamese first, English after: the CLI has no language toggle."""
    with force_locale("vi"):
        vi = str(message)
    with force_locale("en"):
        en = str(message)
    return vi if vi == en else f"{vi} / {en}"


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container user without a passwd entry
        return "cli"


def _staff_failure(exc: StaffError) -> click.ClickException:
    return click.ClickException(bilingual(exc.message))


@user_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", help="Leave out to generate one (printed once).")
@click.option("--display-name")
@click.option("--venue", "venues", multiple=True, metavar="CODE",
              help="A venue this receptionist works at (repeat for several).")
@click.option("--print-token", is_flag=True, help="Print an API bearer token on the last line.")
def user_create(username, role, password, display_name, venues, print_token):
    """Create a staff account."""
    generated = password is None
    if generated:
        password = generate_password()
    with db.new_session() as session:
        try:
            user = create_user(session=session, username=username, role=role, password=password,
                               display_name=display_name, venue_codes=venues, now=now())
        except AuthError as exc:
            raise click.ClickException(str(exc)) from None
        except StaffError as exc:
            raise _staff_failure(exc) from None
        click.echo(f"created {user.role} {user.username} (id {user.id})")
        if venues:
            codes = [v.code for v in user_venues(session=session, user=user)]
            click.echo(f"venues: {' '.join(codes)}")
        elif user.role == Role.receptionist:
            click.echo("no venues yet: this receptionist acts at no venue until one is assigned "
                       f"(user venues {user.username} --venue CODE)", err=True)
        if generated:
            click.echo(f"password: {password}")
        if print_token:
            click.echo(issue_api_token(session=session, user=user, now=now()))


def _existing(session, username):
    user = get_user(session=session, username=username)
    if user is None:
        raise click.ClickException(f"no user {username.strip().lower()!r}")
    return user


@user_cli.command("list")
def user_list():
    """List accounts: username, role, active or disabled, venues."""
    with db.new_session() as session:
        for user, codes in list_users(session=session):
            venues = " ".join(codes) if user.role == Role.receptionist else "(every venue)"
            click.echo("\t".join([user.username, user.role,
                                  "active" if user.is_active else "disabled", venues]))


@user_cli.command("venues")
@click.argument("username")
@click.option("--venue", "venues", multiple=True, metavar="CODE",
              help="Set the receptionist's venues to exactly these (repeat for several).")
@click.option("--none", "clear", is_flag=True, help="Take every venue away.")
def user_venues_command(username, venues, clear):
    """Show a receptionist's venues, or set them (--venue C [--venue D], or --none)."""
    if venues and clear:
        raise click.UsageError("give --venue or --none, not both")
    with db.new_session() as session:
        user = _existing(session, username)
        if venues or clear:
            try:
                set_user_venues(session=session, user=user, codes=venues, actor=cli_actor(),
                                now=now())
            except StaffError as exc:
                raise _staff_failure(exc) from None
        codes = [v.code for v in user_venues(session=session, user=user)]
        if user.role != Role.receptionist:
            click.echo(f"{user.username} is {'an' if user.role == 'admin' else 'a'} "
                       f"{user.role}: every venue")
        else:
            click.echo(f"{user.username}: {' '.join(codes) if codes else '(no venue)'}")


def _set_active(username: str, active: bool) -> None:
    with db.new_session() as session:
        user = _existing(session, username)
        try:
            set_user_active(session=session, user=user, active=active, actor=cli_actor(), now=now())
        except StaffError as exc:
            raise _staff_failure(exc) from None
        click.echo(f"{user.username} {'enabled' if active else 'disabled'}")


@user_cli.command("disable")
@click.argument("username")
def user_disable(username):
    """Disable an account: its sessions and API tokens stop working at once."""
    _set_active(username, False)


@user_cli.command("enable")
@click.argument("username")
def user_enable(username):
    """Enable a disabled account again."""
    _set_active(username, True)


@venue_cli.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--address")
@click.option("--unit", help="The organisation the venue belongs to.")
@click.option("--ward-code", help="The ward or commune (GSO code) the venue lies in; the "
                                  "province follows from it.")
@click.option("--closing-time", help="Close open visits automatically at HH:MM local time.")
@click.option("--max-stay-min", type=click.IntRange(min=1),
              help="Close a visit automatically after this many minutes.")
def venue_create(code, name, address, unit, ward_code, closing_time, max_stay_min):
    """Create a venue."""
    with db.new_session() as session:
        try:
            venue = create_venue(session=session, code=code, name=name, address=address,
                                 unit=unit, closing_time=parse_closing_time(closing_time),
                                 max_stay_min=max_stay_min, ward_code=ward_code, now=now())
        except VenueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"created venue {venue.code} (id {venue.id})")


@venue_cli.command("list")
def venue_list():
    """List venues: code, name, address, ward code."""
    with db.new_session() as session:
        for venue in list_venues(session=session):
            click.echo("\t".join([venue.code, venue.name, venue.address or "",
                                  venue.ward_code or ""]))


@click.command("seed")
@with_appcontext
def seed():
    """Create the DEMO venue and an admin account when none exist."""
    with db.new_session() as session:
        made = seed_demo(session=session, now=now())
    if "venue" in made:
        click.echo("created venue DEMO")
    if "admin" in made:
        username, password = made["admin"]
        click.echo(
            "created admin account — write this password down, it is shown only once:\n"
            f"  username: {username}\n  password: {password}"
        )


@translations_cli.command("compile")
def translations_compile():
    """Compile the .po catalogues into .mo files."""
    from core.i18n import compile_catalogs

    for path in compile_catalogs(ROOT):
        click.echo(f"compiled {path.relative_to(ROOT)}")


@audit_cli.command("verify")
def audit_verify():
    """Check the audit chain and that it passes through its head anchored outside the database
    (instance/audit_anchor, signed with the instance secret); one JSON line; exit 1 when it does
    not hold. A chain from before anchoring that holds is anchored now."""
    import json

    from core.audit import anchor_chain

    with db.new_session() as session:
        check = anchor_chain(session=session)
    click.echo(json.dumps({"ok": check.ok, "checked": check.checked,
                           "broken_at_seq": check.broken_at_seq, "reason": check.reason,
                           "anchored_seq": check.anchored_seq}))
    if not check.ok:
        raise SystemExit(1)


COMMANDS = (db_cli, user_cli, venue_cli, translations_cli, audit_cli, seed)
