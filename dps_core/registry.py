"""The plugin manager of one simulation: loads plugins one by one and collects their records.

Entry points of the group `dps` are loaded individually (pluggy's bulk loader stops at the first
failure), so a plugin that fails to import or to register is reported by name and the others still
load. `DPS_DISABLE_PLUGINS` (comma list, or `all`) disables external plugins; `DPS_PLUGINS` (comma
list) allow-lists them. Plugin objects (modules, classes, instances) can also be passed directly.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import os
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import ConfigError, PluginError, call_plugin
from .logs import _LazyLogger
from .records import RECORD_KINDS

__all__ = ["Registry", "PluginFailure", "ENTRY_POINT_GROUP", "CORE_PLUGIN"]

ENTRY_POINT_GROUP = "dps"
CORE_PLUGIN = "core"
NAMESPACED_KINDS = ("mode", "signal", "demand", "archive_group")

log = _LazyLogger(__name__)

_HOOK_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("dps_"))


def _check_hook_names(obj: Any, plugin: str) -> None:
    """A function named like a hook but not marked with `@hookimpl` would be ignored silently:
    refuse it, naming the plugin and the function."""
    for attr in dir(obj):
        if attr.startswith("dps_") and attr != "dps_plugin_name" and callable(getattr(obj, attr, None)):
            fn = getattr(obj, attr)
            if not hasattr(fn, f"{hookspecs.PROJECT}_impl"):
                raise PluginError(
                    f"plugin '{plugin}': {attr} is named like a hook but is not marked with @dps_core.hookimpl"
                )


@attrs.frozen
class PluginFailure:
    """A plugin that could not be used, and why."""

    name: str
    distribution: str
    error: str


@attrs.frozen
class PluginInfo:
    """A loaded plugin: its name, distribution and version, and how it was found."""

    name: str
    distribution: str
    version: str
    source: str  # 'builtin', 'entry point' or 'object'


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None or raw.strip() == "":
        return None
    return {x.strip() for x in raw.split(",") if x.strip()}


def _object_name(obj: Any) -> str:
    name = getattr(obj, "dps_plugin_name", None) or getattr(obj, "__name__", None)
    return str(name or type(obj).__name__)


class Registry:
    """Plugins and the records they registered, by kind and name."""

    def __init__(self, plugins: Iterable[Any] = (), *, entry_points: bool = True):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.info: list[PluginInfo] = []
        self._records: dict[str, dict[str, Any]] = {kind: {} for kind in RECORD_KINDS}
        self._owners: dict[str, dict[str, str]] = {kind: {} for kind in RECORD_KINDS}

        from . import __version__, builtin

        self._add(builtin, CORE_PLUGIN, "dps-core", __version__, "builtin")
        if entry_points:
            self._load_entry_points()
        for obj in plugins:
            name = _object_name(obj)
            self._add(obj, name, "", "", "object", strict=True)

    # --- loading --------------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        disabled = _env_list("DPS_DISABLE_PLUGINS") or set()
        allowed = _env_list("DPS_PLUGINS")
        seen: set[str] = set()
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            if "all" in disabled or ep.name in disabled or (allowed is not None and ep.name not in allowed):
                log.info("plugin disabled by environment", plugin=ep.name)
                continue
            dist = ep.dist.name if ep.dist else ""
            version = ep.dist.version if ep.dist else ""
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not stop the others
                self._fail(ep.name, dist, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self._add(obj, ep.name, dist, version, "entry point")

    def _fail(self, name: str, dist: str, error: str) -> None:
        self.failures.append(PluginFailure(name, dist, error))
        log.warning("plugin failed to load", plugin=name, distribution=dist, error=error)

    def _add(self, obj, name, dist, version, source, strict=False) -> None:
        if self.pm.has_plugin(name) or any(i.name == name for i in self.info):
            msg = f"two plugins are named '{name}'"
            if strict:
                raise PluginError(msg)
            self._fail(name, dist, msg)
            return
        try:
            _check_hook_names(obj, name)
            try:
                self.pm.register(obj, name=name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"plugin '{name}' does not match the hook contract: {exc}") from exc
            try:
                self._check_hookimpls(name)
                found = self._collect(name)
            except PluginError:
                self.pm.unregister(name=name)
                raise
        except PluginError as exc:
            if strict or source == "builtin":
                raise
            self._fail(name, dist, str(exc))
            return
        for kind, record in found:
            self._store(kind, record, name)
        self.info.append(PluginInfo(name, dist, version, source))

    def _check_hookimpls(self, plugin: str) -> None:
        """Every hook the plugin implements exists (a misspelt hook is an error, as pluggy's
        `check_pending` would say) and is a plain implementation: the registry calls each
        implementation itself so that a failure names its plugin, so wrappers are refused."""
        obj = self.pm.get_plugin(plugin)
        for caller in self.pm.get_hookcallers(obj) or []:
            if caller.spec is None:
                near = difflib.get_close_matches(caller.name, _HOOK_NAMES, n=1)
                hint = f" Did you mean '{near[0]}'?" if near else ""
                raise PluginError(
                    f"plugin '{plugin}' implements unknown hook {caller.name}.{hint} Hooks: {', '.join(_HOOK_NAMES)}"
                )
            for impl in caller.get_hookimpls():
                if impl.plugin is obj and (impl.hookwrapper or impl.wrapper):
                    raise PluginError(
                        f"plugin '{plugin}', hook {caller.name}: hook wrappers are not supported "
                        "(implement the hook plainly; dps calls every implementation itself)"
                    )

    def _collect(self, plugin: str) -> list[tuple[str, Any]]:
        """Call the plugin's registration hooks; return its (kind, record) pairs."""
        found: list[tuple[str, Any]] = []
        obj = self.pm.get_plugin(plugin)
        for kind, (cls, hook_name) in RECORD_KINDS.items():
            impl = next((i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if i.plugin is obj), None)
            if impl is None:
                continue

            def register(record, _kind=kind, _cls=cls, _hook=hook_name):
                if not isinstance(record, _cls):
                    raise PluginError(
                        f"plugin '{plugin}', hook {_hook}: register() takes a {_cls.__name__}, "
                        f"got {type(record).__name__}"
                    )
                if _kind in NAMESPACED_KINDS and plugin != CORE_PLUGIN and not record.name.startswith(plugin + "."):
                    record = attrs.evolve(record, name=f"{plugin}.{record.name}")
                found.append((_kind, record))

            call_plugin(plugin, f"hook {hook_name}", impl.function, register=register)
        # a plugin must not register one name twice within itself either
        seen: set[tuple[str, str]] = set()
        for kind, record in found:
            key = (kind, record.name)
            if key in seen:
                raise PluginError(f"plugin '{plugin}' registers {kind} '{record.name}' twice")
            seen.add(key)
        return found

    def _store(self, kind: str, record: Any, plugin: str) -> None:
        table = self._records[kind]
        if record.name in table:
            other = self._owners[kind][record.name]
            raise PluginError(
                f"{kind} '{record.name}' is registered by both plugin '{other}' and plugin '{plugin}'; "
                "uninstall or disable one of them (DPS_DISABLE_PLUGINS)"
            )
        table[record.name] = record
        self._owners[kind][record.name] = plugin

    # --- lookup ---------------------------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """Registered names of one record kind, sorted."""
        return sorted(self._records[kind])

    def records(self, kind: str) -> dict[str, Any]:
        """All records of one kind by name."""
        return dict(self._records[kind])

    def owner(self, kind: str, name: str) -> str:
        """The plugin that registered a record."""
        return self._owners[kind][name]

    def get(self, kind: str, name: str, where: str = "") -> Any:
        """The record `name` of `kind`; unknown names list what is available."""
        table = self._records[kind]
        if name in table:
            return table[name]
        available = sorted(table)
        near = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(map(repr, near))}?" if near else ""
        at = f" (config key '{where}')" if where else ""
        failed = ""
        if self.failures:
            failed = " Plugins that failed to load: " + "; ".join(f"{f.name}: {f.error}" for f in self.failures)
        raise ConfigError(f"unknown {kind} '{name}'{at}.{hint} Available: {', '.join(available) or '(none)'}.{failed}")

    def versions(self) -> dict[str, str]:
        """Plugin name -> version, for provenance."""
        return {i.name: i.version for i in self.info}

    # --- lifecycle hooks ------------------------------------------------------------------------

    def call(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook on every plugin; a failure names the plugin and the hook."""
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            call_plugin(impl.plugin_name, f"hook {hook_name}", impl.function, **{k: kwargs[k] for k in impl.argnames})
