from tests.kiosk.conftest import keyring, make_declaration, make_token  # noqa: F401 (fixtures)
