"""Credentials for REST sources: bearer token, HTTP basic, OAuth 1.0a and OAuth 2 client credentials.

Each ``Auth`` is a ``requests`` auth object whose secrets are :class:`pydantic.SecretStr` and whose
``repr`` never shows them. :class:`~connectors.http.client.HttpClient` binds it to its session,
registers its secrets with the log scrubber, and calls :meth:`Auth.refresh` once when a 401
arrives mid-pull.

Examples
--------
>>> from pydantic import SecretStr
>>> BearerAuth(SecretStr("district-token-1234"))
BearerAuth(token=SecretStr('**********'))
>>> OAuth1Auth("ck_riverside", SecretStr("cs-1234"), signature_method="PLAINTEXT")
OAuth1Auth(consumer_key='ck_riverside', consumer_secret=SecretStr('**********'), \
signature_method='PLAINTEXT')
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Literal

import requests
from oauthlib.oauth1 import SIGNATURE_TYPE_AUTH_HEADER
from oauthlib.oauth2 import BackendApplicationClient, InsecureTransportError, OAuth2Error
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from requests_oauthlib import OAuth1, OAuth2Session

from .errors import AuthenticationError, check_response, map_transport_error, parse_json
from .redaction import SCRUBBER, redact_url

__all__ = ["Auth", "BasicAuth", "BearerAuth", "OAuth1Auth", "OAuth2ClientCredentials"]

log = logging.getLogger(__name__)

Timeout = float | tuple[float, float]


def _require_secret(name: str, value: object) -> SecretStr:
    if not isinstance(value, SecretStr):
        raise TypeError(
            f"{name} must be a pydantic SecretStr, not {type(value).__name__}: wrap it as "
            f"SecretStr(value) so it never shows in logs, errors or reprs."
        )
    return value


class Auth(AuthBase):
    """Base class of the HTTP layer's credentials.

    Subclasses implement ``__call__`` (add credentials to a prepared request) and may override
    :meth:`bind`, :meth:`refresh` and :meth:`secrets`.

    Examples
    --------
    >>> class NoAuth(Auth):
    ...     def __call__(self, r):
    ...         return r
    >>> NoAuth().refresh(), NoAuth().secrets()
    (False, ())
    """

    def bind(self, adapter: HTTPAdapter, timeout: Timeout) -> None:
        """Called once by the client: reuse its connection pool and timeouts for token calls."""

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; return whether retrying the request can help."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """The literal secret strings to mask in third-party log lines."""
        return ()

    def rejected_advice(self) -> str:
        """What to do when the source rejects these credentials."""
        return "Check the credentials configured for this source."

    def close(self) -> None:
        """Release any connections the credentials hold (token requests)."""


class BearerAuth(Auth):
    """A static bearer token: a Clever district token, a Canvas access token.

    Examples
    --------
    >>> request = requests.Request("GET", "https://api.clever.com/v3.0/users").prepare()
    >>> BearerAuth(SecretStr("tok-1234"))(request).headers["Authorization"]
    'Bearer tok-1234'
    """

    def __init__(self, token: SecretStr) -> None:
        self.token = _require_secret("token", token)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        return r

    def secrets(self) -> tuple[str, ...]:
        return (self.token.get_secret_value(),)

    def rejected_advice(self) -> str:
        return "The token was rejected: check that it is current and belongs to this district."

    def __repr__(self) -> str:
        return f"BearerAuth(token={self.token!r})"


class BasicAuth(Auth):
    """HTTP basic authentication, as an xAPI LRS uses (key as user name, secret as password).

    Examples
    --------
    >>> auth = BasicAuth("lrs-key", SecretStr("lrs-secret"))
    >>> request = requests.Request("GET", "https://lrs.example.org/xapi/statements").prepare()
    >>> auth(request).headers["Authorization"].startswith("Basic ")
    True
    >>> auth
    BasicAuth(username='lrs-key', password=SecretStr('**********'))
    """

    def __init__(self, username: str, password: SecretStr) -> None:
        self.username = username
        self.password = _require_secret("password", password)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        signed: requests.PreparedRequest = HTTPBasicAuth(
            self.username, self.password.get_secret_value()
        )(r)
        return signed

    def secrets(self) -> tuple[str, ...]:
        return (self.password.get_secret_value(),)

    def rejected_advice(self) -> str:
        return "The user name and password (LRS key and secret) were rejected: check them."

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password={self.password!r})"


class OAuth1Auth(Auth):
    """Two-legged OAuth 1.0a request signing, through ``requests_oauthlib.OAuth1``.

    Every request is signed when it is prepared, so the signature covers every query
    parameter of that exact URL, including those of paginated next URLs. A 401 may come from a
    server that rejects a re-sent nonce (urllib3 re-sends the same signed request on a retry);
    :meth:`refresh` therefore allows one fresh signature.

    Parameters
    ----------
    consumer_key
        The client (consumer) key.
    consumer_secret
        The client (consumer) secret.
    signature_method
        ``"HMAC-SHA1"`` (OneRoster 1.1 REST as most vendors run it, ClassLink),
        ``"HMAC-SHA256"`` (what the OneRoster 1.1 specification asks for), or ``"PLAINTEXT"``
        (Schoology's two-legged OAuth).
    realm
        An optional ``realm`` for the ``Authorization`` header (Schoology accepts
        ``"Schoology API"``).

    Examples
    --------
    >>> auth = OAuth1Auth("ck", SecretStr("cs-1234"))
    >>> request = requests.Request("GET", "https://sis.example.org/users?limit=2").prepare()
    >>> header = auth(request).headers["Authorization"]
    >>> 'oauth_signature_method="HMAC-SHA1"' in header, 'oauth_consumer_key="ck"' in header
    (True, True)
    """

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: SecretStr,
        *,
        signature_method: Literal["HMAC-SHA1", "HMAC-SHA256", "PLAINTEXT"] = "HMAC-SHA1",
        realm: str | None = None,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = _require_secret("consumer_secret", consumer_secret)
        self.signature_method = signature_method
        self.realm = realm

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        signer = OAuth1(
            self.consumer_key,
            client_secret=self.consumer_secret.get_secret_value(),
            signature_method=self.signature_method,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
            realm=self.realm,
        )
        signed: requests.PreparedRequest = signer(r)
        header = signed.headers.get("Authorization")
        if isinstance(header, bytes):  # requests_oauthlib leaves bytes; keep headers text
            signed.headers["Authorization"] = header.decode("ascii")
        return signed

    def refresh(self) -> bool:
        return True  # re-preparing the request signs it again with a fresh nonce and timestamp

    def secrets(self) -> tuple[str, ...]:
        return (self.consumer_secret.get_secret_value(),)

    def rejected_advice(self) -> str:
        return (
            "The signed request was rejected twice: check the consumer key and secret, the "
            f"signature method ({self.signature_method}) and this machine's clock."
        )

    def __repr__(self) -> str:
        return (
            f"OAuth1Auth(consumer_key={self.consumer_key!r}, "
            f"consumer_secret={self.consumer_secret!r}, "
            f"signature_method={self.signature_method!r})"
        )


class OAuth2ClientCredentials(Auth):
    """OAuth 2 client-credentials grant, with the token fetched and re-fetched as needed.

    The token comes from ``OAuth2Session.fetch_token`` with a ``BackendApplicationClient``. It is
    fetched lazily before the first request, again when it is about to expire, and once more
    when the source answers 401 mid-pull; a second 401 fails with :class:`AuthenticationError`.

    Parameters
    ----------
    token_url
        The token endpoint.
    client_id, client_secret
        The client credentials.
    scope
        Scopes to ask for, if the source needs them.
    credentials_in_body
        Send the client id and secret in the form body instead of HTTP basic auth.
    expiry_margin
        Seconds before ``expires_at`` at which the token counts as expired.

    Examples
    --------
    >>> OAuth2ClientCredentials("https://launchpad.classlink.com/oauth2/v2/token", "client-7",
    ...                         SecretStr("secret-7"))
    OAuth2ClientCredentials(token_url='https://launchpad.classlink.com/oauth2/v2/token', \
client_id='client-7', client_secret=SecretStr('**********'))
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        scope: list[str] | None = None,
        credentials_in_body: bool = False,
        expiry_margin: float = 30.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = _require_secret("client_secret", client_secret)
        self.scope = scope
        self.credentials_in_body = credentials_in_body
        self.expiry_margin = expiry_margin
        self._adapter: HTTPAdapter | None = None
        self._timeout: Timeout = (10.0, 60.0)
        self._token: SecretStr | None = None
        self._expires_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0
        """How many tokens were fetched so far (useful in tests and sync reports)."""

    def bind(self, adapter: HTTPAdapter, timeout: Timeout) -> None:
        """Use the client's retry policy, with POST allowed, for token requests.

        A client-credentials token request changes nothing on the server, so retrying it on
        429/5xx is safe.
        """
        retry = adapter.max_retries
        methods = frozenset(retry.allowed_methods or ()) | {"POST"}
        self._adapter = HTTPAdapter(max_retries=retry.new(allowed_methods=methods))
        self._timeout = timeout

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if self._token is None or self._expired():
                self._fetch_token()
            assert self._token is not None  # _fetch_token sets it or raises
            r.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return r

    def refresh(self) -> bool:
        with self._lock:
            log.warning(
                "The source rejected the access token (HTTP 401); fetching a new one from %s",
                redact_url(self.token_url),
            )
            self._fetch_token()
        return True

    def secrets(self) -> tuple[str, ...]:
        current = (self._token.get_secret_value(),) if self._token is not None else ()
        return (self.client_secret.get_secret_value(), *current)

    def rejected_advice(self) -> str:
        return (
            "The token was rejected twice, even freshly fetched: check the client id/secret and "
            "that the app is granted access to this data."
        )

    def _expired(self) -> bool:
        return self._expires_at is not None and time.time() >= self._expires_at - self.expiry_margin

    def _fetch_token(self) -> None:
        session = OAuth2Session(client=BackendApplicationClient(client_id=self.client_id))
        session.register_compliance_hook("access_token_response", _check_token_response)
        if self._adapter is not None:
            session.mount("https://", self._adapter)
            session.mount("http://", self._adapter)
        secret = self.client_secret.get_secret_value()
        try:
            token: dict[str, Any] = session.fetch_token(
                self.token_url,
                client_id=self.client_id,
                client_secret=secret,
                include_client_id=self.credentials_in_body,
                scope=self.scope,
                timeout=self._timeout,
            )
        except InsecureTransportError:
            raise AuthenticationError(
                url=self.token_url,
                detail="The token URL is not https, and oauthlib refuses to send credentials "
                "over plain http",
                fix="Use the https token URL; only for a test server on localhost set "
                "OAUTHLIB_INSECURE_TRANSPORT=1.",
            ) from None
        except OAuth2Error as error:
            raise AuthenticationError(
                url=self.token_url,
                status=error.status_code,
                detail=f"The token endpoint refused the client credentials ({error.error})",
                fix="Check the client id/secret for this source and that the app may use the "
                "client-credentials grant.",
            ) from None
        except requests.RequestException as error:
            raise map_transport_error(error, self.token_url) from None
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise AuthenticationError(
                url=self.token_url,
                detail="The token endpoint answered without an access_token",
                fix="Check the token URL for this source.",
            )
        self._token = SecretStr(access_token)
        SCRUBBER.register([access_token])
        expires_at = token.get("expires_at")
        self._expires_at = float(expires_at) if isinstance(expires_at, int | float) else None
        self.fetch_count += 1
        log.info("Fetched an access token from %s", redact_url(self.token_url))

    def close(self) -> None:
        """Close the token requests' connection pool."""
        if self._adapter is not None:
            self._adapter.close()

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(token_url={redact_url(self.token_url)!r}, "
            f"client_id={self.client_id!r}, client_secret={self.client_secret!r})"
        )


def _check_token_response(response: requests.Response) -> requests.Response:
    """Raise the typed error for a token endpoint that is failing (not refusing) before oauthlib
    reads its body: a 5xx or 429 after the retries, or an HTML page instead of JSON."""
    if response.status_code >= 500 or response.status_code == 429:
        check_response(response)
    if response.status_code == 200:
        parse_json(response)
    return response
