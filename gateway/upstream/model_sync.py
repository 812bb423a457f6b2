"""Upstream model sync: list each channel's upstream models, diff them against its model map, and keep
the differences as UpstreamModelFinding rows for the console's review page.

Lists are fetched only from the channel's own configured base URL (operator-controlled) with its own
credential, in the three list formats the providers speak:
  OpenAI    GET {base}/models → {"data": [{"id"}]}
  Anthropic GET {base}/models?limit=&after_id= → {"data": [{"id"}], "has_more", "last_id"}
  Gemini    GET {base}/models?pageSize=&pageToken= → {"models": [{"name": "models/x"}], "nextPageToken"}
Nothing here publishes a price or enables a model: apply maps to an existing public model or creates a
*draft* one (enabled=False, no price) that an operator prices and enables by hand.
"""

import logging
from dataclasses import dataclass, field

import httpx
from django.db import transaction

from billing.alerts import operator_alert
from gateway.models import CatalogModel, Channel, ChannelModel, UpstreamModelFinding
from gateway.pool.store import first_secret
from gateway.relay.catalog import clear_caches
from gateway.upstream import http as upstream_http

log = logging.getLogger("harnmodel.upstream_models")
MAX_PAGES = 20  # bounded pagination: at most this many list pages per channel and sync
PAGE_SIZE = 1000
OPENAI_KINDS = frozenset({"openai_chat", "openai_responses"})
SYNCED_KINDS = OPENAI_KINDS | {"anthropic", "gemini"}
Finding = UpstreamModelFinding


class SyncError(Exception):
    pass


@dataclass(slots=True)
class SyncSummary:
    channels: int = 0
    failed: int = 0
    changed: dict[str, list[str]] = field(default_factory=dict)  # channel name → "new x" / "vanished y"


def _get(client: httpx.Client, url: str, headers: dict, params: dict | None = None) -> dict:
    try:
        return upstream_http.get_json(client, url, headers, params)
    except upstream_http.FetchError as exc:
        raise SyncError(f"model list: {exc}") from exc


def _ids(items: object, key: str) -> list[str]:
    if not isinstance(items, list):
        raise SyncError("the model list has no list of models")
    return [str(i[key]) for i in items if isinstance(i, dict) and isinstance(i.get(key), str) and i[key]]


def fetch_models(client: httpx.Client, provider: str, base_url: str, secret: str, options: dict) -> set[str]:
    """The upstream's model names (as the channel's upstream_name would spell them)."""
    url = base_url.rstrip("/") + "/models"
    if provider in OPENAI_KINDS:
        return set(_ids(_get(client, url, {"authorization": f"Bearer {secret}"}).get("data"), "id"))
    names: set[str] = set()
    if provider == "anthropic":
        version = str(options.get("anthropic_version") or "2023-06-01")
        headers, params = {"x-api-key": secret, "anthropic-version": version}, {"limit": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            page = _get(client, url, headers, params)
            names.update(_ids(page.get("data"), "id"))
            if not page.get("has_more") or not page.get("last_id"):
                return names
            params = {"limit": PAGE_SIZE, "after_id": page["last_id"]}
        raise SyncError(f"more than {MAX_PAGES} pages of models")
    if provider == "gemini":
        headers, params = {"x-goog-api-key": secret}, {"pageSize": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            page = _get(client, url, headers, params)
            names.update(n.removeprefix("models/") for n in _ids(page.get("models"), "name"))
            if not page.get("nextPageToken"):
                return names
            params = {"pageSize": PAGE_SIZE, "pageToken": page["nextPageToken"]}
        raise SyncError(f"more than {MAX_PAGES} pages of models")
    raise SyncError(f"no model list for provider {provider!r}")


def _mapped(channel: Channel) -> set[str]:
    return {m.upstream_name or m.model.public_id for m in channel.model_maps.select_related("model")}


@transaction.atomic
def record_diff(channel: Channel, listed: set[str]) -> list[str]:
    """Upsert the channel's findings for this list; returns what changed since the last sync (for the alert).

    Ignored findings stay ignored while the difference lasts; a finding whose difference is gone is deleted."""
    mapped = _mapped(channel)
    diff = {name: Finding.Kind.NEW for name in listed - mapped} | {n: Finding.Kind.VANISHED for n in mapped - listed}
    existing = {f.upstream_name: f for f in Finding.objects.select_for_update().filter(channel=channel)}
    Finding.objects.filter(pk__in=[f.pk for name, f in existing.items() if name not in diff]).delete()
    changed = []
    for name, kind in sorted(diff.items()):
        finding = existing.get(name)
        if finding is None:
            Finding.objects.create(channel=channel, upstream_name=name, kind=kind)
        elif finding.kind != kind:
            finding.kind, finding.state = kind, Finding.State.OPEN
            finding.save(update_fields=["kind", "state", "last_seen_at"])
        else:
            continue
        changed.append(f"{kind} {name}")
    return changed


def sync_channel(client: httpx.Client, channel: Channel) -> list[str]:
    listed = fetch_models(client, channel.provider, channel.base_url, first_secret(channel)[1],
                          channel.options or {})  # fmt: skip
    return record_diff(channel, listed)


def sync_all() -> SyncSummary:
    """The scheduled job: every enabled channel of a listable kind; one mail per sync naming what changed."""
    summary = SyncSummary()
    channels = Channel.objects.filter(enabled=True, provider__in=SYNCED_KINDS).exclude(base_url="").order_by("pk")
    with upstream_http.client() as client:
        for channel in channels:
            summary.channels += 1
            try:
                changed = sync_channel(client, channel)
            except (SyncError, httpx.HTTPError) as exc:
                summary.failed += 1
                log.warning("model sync of channel %s failed: %s", channel.pk, type(exc).__name__)
                continue
            if changed:
                summary.changed[channel.name] = changed
    if summary.changed:
        lines = [f"{name}: {', '.join(items)}" for name, items in summary.changed.items()]
        operator_alert(subject="Upstream model lists changed",
                       message="Review them on the console's upstream model changes page.\n" + "\n".join(lines))  # fmt: skip
    return summary


class ApplyError(Exception):
    pass


@transaction.atomic
def apply_finding(finding: Finding) -> ChannelModel:
    """Map a new upstream model: to finding.target, or to a draft public model (disabled, no price)."""
    if finding.kind != Finding.Kind.NEW:
        raise ApplyError(f"{finding.upstream_name} vanished upstream: unmap it instead")
    name = finding.upstream_name
    target = finding.target
    if target is None:
        target, _ = CatalogModel.objects.get_or_create(
            public_id=name[:128],
            defaults={"enabled": False, "display_name": name[:200],
                      "description": f"Draft from the upstream model sync of {finding.channel.name}: "
                                     "publish a price, then enable it."},
        )  # fmt: skip
    if ChannelModel.objects.filter(channel_id=finding.channel_id, model=target).exists():
        raise ApplyError(f"{finding.channel.name} already serves {target.public_id}")
    entry = ChannelModel.objects.create(
        channel_id=finding.channel_id, model=target, upstream_name="" if name == target.public_id else name
    )
    finding.target, finding.state = target, Finding.State.APPLIED
    finding.save(update_fields=["target", "state", "last_seen_at"])
    clear_caches()
    return entry


@transaction.atomic
def unmap_finding(finding: Finding) -> int:
    """Remove the model map entries of a vanished upstream model; returns how many were removed."""
    if finding.kind != Finding.Kind.VANISHED:
        raise ApplyError(f"{finding.upstream_name} is new upstream: nothing to unmap")
    maps = [m.pk for m in ChannelModel.objects.filter(channel_id=finding.channel_id).select_related("model")
            if (m.upstream_name or m.model.public_id) == finding.upstream_name]  # fmt: skip
    ChannelModel.objects.filter(pk__in=maps).delete()
    finding.state = Finding.State.UNMAPPED
    finding.save(update_fields=["state", "last_seen_at"])
    clear_caches()
    return len(maps)


def ignore_finding(finding: Finding) -> None:
    finding.state = Finding.State.IGNORED
    finding.save(update_fields=["state", "last_seen_at"])
