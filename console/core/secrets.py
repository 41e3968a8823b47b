"""Keep broker credentials out of everything we show or write."""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "****"
MIN_FREE_TEXT_PASSWORD = 4

# scheme://user:password@host — the password may hold "@", "/" or ":" when
# people do not percent-encode it, so it runs to the *last* "@" before
# whitespace or the next URL of a ";" failover list.
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:@/\s;]*):(?P<password>[^\s;]*)@")


def mask_url(url: object) -> str:
    """The URL with any password replaced by ``****``.

    Works on lists of failover URLs separated by ``;`` and leaves URLs
    without a password alone (kombu's own ``as_uri`` adds a mask to URLs
    that had none, which misleads someone reading the header).
    """
    if url is None:
        return ""
    if not isinstance(url, str):
        url = str(url)
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def passwords_in(url: object) -> list[str]:
    """The passwords in a broker URL (raw and percent-decoded)."""
    if not isinstance(url, str):
        return []
    found: set[str] = set()
    for match in _USERINFO.finditer(url):
        password = match["password"]
        if password:
            found.update({password, unquote(password)})
    # Longest first, so a password containing another is replaced whole.
    return sorted(found, key=len, reverse=True)


def scrub(text: object, *urls: object) -> str:
    """Mask URLs in ``text`` and remove the passwords of ``urls`` wherever
    they appear, e.g. inside a driver's error message."""
    scrubbed = mask_url(str(text))
    for url in urls:
        for password in passwords_in(url):
            # URLs are masked whatever the password; replacing a 1-3
            # character password everywhere in free text would only mangle
            # the message ("amqp" -> "amq****") without hiding anything.
            if len(password) >= MIN_FREE_TEXT_PASSWORD:
                scrubbed = scrubbed.replace(password, MASK)
    return scrubbed
