"""Who is calling: a request's user from a trusted proxy's headers, an API token or a session cookie.

With no users and no trusted header configured the app is in local mode: one person on 127.0.0.1, who may do
everything (as the app always allowed), and nobody else can reach it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie

from .config import Settings
from .errors import ConfigError
from .users import ROLES, User, UserStore

SESSION_COOKIE = "atlas_qa_session"
LOCAL_USER = User("local", "admin")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def split(value: str) -> list[str]:
    """A comma-separated setting as a list (blanks dropped)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host names the app answers to (anything else gets 400: no DNS rebinding against a local app)."""
    listed = split(settings.allowed_hosts)
    if listed:
        return listed
    if settings.host not in LOOPBACK:
        raise ConfigError(
            f"The app listens on {settings.host}: set ATLAS_QA_ALLOWED_HOSTS to the host names it is reached by "
            "(e.g. atlas.example.edu)."
        )
    return ["127.0.0.1", "localhost", "[::1]"]


@dataclass
class Access:
    """Identifies the caller of each request for one deployment."""

    settings: Settings
    store: UserStore
    local: bool  # no accounts and no proxy sign-on (decided at start: adding the first user needs a restart)

    @classmethod
    def for_settings(cls, settings: Settings) -> Access:
        store = UserStore.for_settings(settings)
        return cls(settings, store, local=not settings.trusted_header and not store.any())

    def check_local_host(self) -> None:
        if self.local and self.settings.host not in LOOPBACK:
            raise ConfigError(
                f"No users are configured, so the app serves one person on 127.0.0.1 only (not {self.settings.host}): "
                "add users with `atlas-qa users add`, or set ATLAS_QA_TRUSTED_HEADER behind a signing-in proxy."
            )

    def trusted_peer(self, peer: str | None) -> bool:
        """Whether the direct peer is one of the configured proxies (whose identity headers are believed)."""
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        for net in split(self.settings.trusted_proxies):
            try:
                if address in ipaddress.ip_network(net, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def client_address(self, headers: Mapping[str, str], peer: str | None) -> str:
        """The end user's address: X-Forwarded-For's last hop when the peer is a trusted proxy, else the peer."""
        forwarded = headers.get("x-forwarded-for", "")
        if forwarded and self.trusted_peer(peer):
            return forwarded.split(",")[-1].strip()
        return peer or ""

    def untrusted_forwarding(self, headers: Mapping[str, str], peer: str | None) -> set[str]:
        """The forwarded-host headers of a request not to believe (the server drops them before the app sees them):
        any from a peer that is not a configured proxy, and from one, a host the app does not answer to. The app
        would otherwise take the page's public address (Gradio's `root`) from them."""
        present = {h for h in ("x-forwarded-host", "forwarded") if h in headers}
        if not present or not self.trusted_peer(peer):
            return present
        host = headers.get("x-forwarded-host", "").split(",")[0].strip()
        name = host[: host.index("]") + 1] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        return {"x-forwarded-host"} if host and name not in allowed_hosts(self.settings) else set()

    def identify(self, headers: Mapping[str, str], peer: str | None) -> User | None:
        """The caller, or None. `headers` with lower-case names; `peer` the connection's client address."""
        if self.local:
            return LOCAL_USER
        header = self.settings.trusted_header.lower()
        if header and self.trusted_peer(peer) and headers.get(header):
            return self.from_proxy(
                headers.get(header, ""), headers.get(self.settings.trusted_groups_header.lower(), "")
            )
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.store.for_token(auth[7:].strip())
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no identity
            return None
        morsel = cookie.get(SESSION_COOKIE)
        return self.store.for_session(morsel.value) if morsel else None

    def from_proxy(self, name: str, groups: str) -> User:
        """A user signed in by the proxy: the groups give the role (`student`, `instructor`, `admin`, optionally
        prefixed `atlas-qa:`) and the courses (`course:NAME`); a known account's role and courses are used first."""
        known = self.store.get(name)
        if known:
            return known
        role, courses = "student", []
        for group in split(groups.replace(";", ",")):
            group = group.removeprefix("atlas-qa:")
            if group in ROLES and ROLES.index(group) > ROLES.index(role):
                role = group
            elif group.startswith("course:"):
                courses.append(group[len("course:") :])
        return User(name, role, tuple(courses))
