"""API keys, seeded roles and permission checks (API.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
import secrets

from .errors import forbidden, unauthenticated
from .models import ApiKey, User

# Admin = every seeded permission, in the order FilaMan 1.2.20 lists them (examples/me.json).
ADMIN_PERMISSIONS: tuple[str, ...] = (
    "filaments:create", "spools:consume", "admin:rbac_manage", "user_api_keys:rotate_own",
    "filaments:read", "locations:read", "admin:devices_manage", "spool_events:create_adjustment",
    "spools:delete", "user_api_keys:create_own", "spool_events:create_consumption",
    "filaments:delete", "spool_events:create_move_location", "printers:delete",
    "manufacturers:create", "spools:read", "spools:adjust_weight", "printers:create",
    "user_api_keys:update_own", "user_api_keys:delete_own", "manufacturers:update",
    "spools:update", "admin:plugins_manage", "user_api_keys:read_own", "printers:update",
    "locations:update", "colors:create", "manufacturers:delete", "printers:read", "colors:read",
    "spools:create", "spool_events:read", "spools:archive", "locations:delete",
    "locations:create", "manufacturers:read", "ratings:write", "spools:move_location",
    "ratings:delete", "ratings:read", "admin:users_manage", "colors:update", "colors:delete",
    "spool_events:create_measurement", "filaments:update", "spool_events:create_status",
)  # fmt: skip

# Seeded role tables of the server (src). Note: `user` lacks spools:delete, so it can
# neither archive (DELETE /spools/{id}) nor permanently delete spools.
VIEWER_PERMISSIONS: tuple[str, ...] = (
    "filaments:read", "manufacturers:read", "locations:read", "spools:read",
    "spool_events:read", "printers:read", "ratings:read", "colors:read",
)  # fmt: skip
USER_PERMISSIONS: tuple[str, ...] = (
    "filaments:read", "manufacturers:read", "locations:read", "printers:read", "ratings:read",
    "spools:read", "spools:create", "spools:update", "spools:adjust_weight",
    "spools:move_location", "spools:archive", "spools:consume", "spool_events:read",
    "spool_events:create_measurement", "spool_events:create_adjustment",
    "spool_events:create_consumption", "spool_events:create_status",
    "spool_events:create_move_location", "ratings:write", "ratings:delete",
    "user_api_keys:read_own", "user_api_keys:create_own", "user_api_keys:update_own",
    "user_api_keys:rotate_own", "user_api_keys:delete_own",
)  # fmt: skip
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "viewer": VIEWER_PERMISSIONS,
    "user": USER_PERMISSIONS,
    "admin": ADMIN_PERMISSIONS,
}

API_KEY_SCHEME = "ApiKey "  # case-sensitive, as in the server


@dataclass(frozen=True)
class Principal:
    user: User

    @property
    def permissions(self) -> tuple[str, ...]:
        return ROLE_PERMISSIONS[self.user.role]

    def require(self, permission: str) -> None:
        """Superadmins bypass every check; everyone else needs the role permission."""
        if self.user.is_superadmin or permission in self.permissions:
            return
        raise forbidden(permission)


class KeyRing:
    """Users and their API keys; tokens look like `uak.<id>.<43 url-safe chars>`."""

    def __init__(self) -> None:
        # User 1 is the bootstrap superadmin, like ADMIN_EMAIL on a fresh server.
        self.users: dict[int, User] = {
            1: User(1, "admin@example.com", "Admin", "admin", is_superadmin=True)
        }
        self.keys: dict[int, ApiKey] = {}

    def create_key(
        self,
        role: str = "user",
        superadmin: bool = False,
        name: str = "home-assistant",
        token: str | None = None,
    ) -> str:
        """A new user with `role` and one key; `token` fixes the key (CLI --api-key)."""
        if role not in ROLE_PERMISSIONS:
            raise ValueError(f"unknown role {role!r}")
        user_id = max(self.users) + 1
        self.users[user_id] = User(
            user_id, f"{role}{user_id}@example.com", role.title(), role, is_superadmin=superadmin
        )
        return self.add_key(user_id, name, token)

    def add_key(self, user_id: int, name: str, token: str | None = None) -> str:
        """Register a key; `token` pre-registers a fixed one (CLI --api-key)."""
        if token is not None:
            key_id, secret = parse_token(token) or (0, "")
            if not key_id or key_id in self.keys:
                raise ValueError("api key must look like uak.<unused id>.<secret>")
        else:
            key_id = max(self.keys, default=0) + 1
            secret = secrets.token_urlsafe(32)
        self.keys[key_id] = ApiKey(key_id, user_id, name, secret, datetime.now(UTC))
        return f"uak.{key_id}.{secret}"

    def authenticate(self, authorization: str | None) -> Principal:
        if authorization is None or not authorization.startswith(API_KEY_SCHEME):
            raise unauthenticated()
        parsed = parse_token(authorization.removeprefix(API_KEY_SCHEME))
        if parsed is None:
            raise unauthenticated()
        key = self.keys.get(parsed[0])
        if key is None or not secrets.compare_digest(key.secret, parsed[1]):
            raise unauthenticated()
        return Principal(self.users[key.user_id])


def parse_token(token: str) -> tuple[int, str] | None:
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != "uak" or not parts[1].isdigit() or not parts[2]:
        return None
    return int(parts[1]), parts[2]
