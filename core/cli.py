"""Command line: `db`, `user`, `venue`, `seed`, `translations` groups (flask --app app …)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

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

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

ROOT = Path(__file__).resolve().parent.parent

db_cli = AppGroup("db", help="Database migrations (Alembic).")
user_cli = AppGroup("user", help="Staff accounts.")
venue_cli = AppGroup("venue", help="Venues.")
translations_cli = AppGroup("translations", help="Message catalogues.")


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


@user_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", help="Leave out to generate one (printed once).")
@click.option("--display-name")
@click.option("--print-token", is_flag=True, help="Print an API bearer token on the last line.")
def user_create(username, role, password, display_name, print_token):
    """Create a staff account."""
    generated = password is None
    if generated:
        password = generate_password()
    with db.new_session() as session:
        try:
            user = create_user(session=session, username=username, role=role, password=password,
                               display_name=display_name, now=now())
        except AuthError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"created {user.role} {user.username} (id {user.id})")
        if generated:
            click.echo(f"password: {password}")
        if print_token:
            click.echo(issue_api_token(session=session, user=user, now=now()))


@venue_cli.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--address")
@click.option("--unit", help="Organisation or unit, for adoption reports.")
@click.option("--closing-time", help="Close open visits automatically at HH:MM local time.")
@click.option("--max-stay-min", type=click.IntRange(min=1),
              help="Close a visit automatically after this many minutes.")
def venue_create(code, name, address, unit, closing_time, max_stay_min):
    """Create a venue."""
    with db.new_session() as session:
        try:
            venue = create_venue(session=session, code=code, name=name, address=address,
                                 unit=unit, closing_time=parse_closing_time(closing_time),
                                 max_stay_min=max_stay_min, now=now())
        except VenueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"created venue {venue.code} (id {venue.id})")


@venue_cli.command("list")
def venue_list():
    """List venues: code, name, address."""
    with db.new_session() as session:
        for venue in list_venues(session=session):
            click.echo("\t".join([venue.code, venue.name, venue.address or ""]))


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


COMMANDS = (db_cli, user_cli, venue_cli, translations_cli, seed)
