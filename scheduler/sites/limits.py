"""Per-site limits (SCHEDULER_SITES__LIMITS), pure: which limit governs a website.

A table keyed by site pattern: an exact host ("www.nicovideo.jp"), a domain with every
host under it ("*.nicovideo.jp": nicovideo.jp itself and its subdomains, which share one
limit), or "*" for each site no other pattern matches (each such host on its own). The
most specific pattern wins: the exact host, then the longest domain, then "*".
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass

DEFAULT_PATTERN = "*"


def matching_pattern(website: str, patterns: Container[str]) -> str | None:
    """The most specific of `patterns` (hosts and "*.domain"s) that covers the website:
    the exact host, then the longest domain; None when none does."""
    host = website.lower()
    if host in patterns:
        return host
    parts = host.split(".")
    for start in range(len(parts) - 1):  # longest domain first
        if (pattern := "*." + ".".join(parts[start:])) in patterns:
            return pattern
    return None


@dataclass(frozen=True)
class SiteLimit:
    downloads: int  # downloads of the site running at once, across every instance
    listings: int  # listings of its categories running at once
    interval_s: float  # the least time between two starts (a download or a listing); 0: none


@dataclass(frozen=True)
class SiteLimits:
    by_pattern: Mapping[str, SiteLimit]  # always holds DEFAULT_PATTERN

    def site_of(self, website: str) -> str:
        """The key the website's limit is kept under: its pattern, or the host itself for "*"."""
        return matching_pattern(website, self.by_pattern) or website.lower()

    def limit_of(self, site: str) -> SiteLimit:
        """The limit of a key from `site_of`."""
        return self.by_pattern.get(site) or self.by_pattern[DEFAULT_PATTERN]
