"""A tray host for the app's tests: a minimal StatusNotifierWatcher on a private session bus, and a
reader and clicker of the registered tray item's menu, over D-Bus as a desktop shell uses them.

On Linux the app's tray (Tauri -> tray-icon -> libayatana-appindicator) is an
`org.kde.StatusNotifierItem` object whose `Menu` property names a `com.canonical.dbusmenu` object
(libdbusmenu-gtk exporting the GTK menu). At start the library looks for
`org.kde.StatusNotifierWatcher` on the session bus and calls its `RegisterStatusNotifierItem`
with the item's object path; with no watcher there it falls back to an XEmbed icon that no test
can read. No desktop shell runs here, so `StatusNotifierHost` plays the watcher (and says a host
is registered): it must own the name before the app starts.

Words:
  - item: a registered StatusNotifierItem, `TrayItem` (its bus name and object path);
  - layout: the menu as `GetLayout(0, -1, [])` answers it, a tree of `MenuNode`s with the
    revision it was read at;
  - click: `Event(id, "clicked", 0, timestamp)`, what a shell sends when the user picks an item.

The bus connection (dbus-fast, asyncio) runs on its own thread; every method here is synchronous
and bounded by `CALL_TIMEOUT` (or its own `timeout`), failing the test with what it last saw.
"""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
WATCHER_IFACE = "org.kde.StatusNotifierWatcher"
ITEM_IFACE = "org.kde.StatusNotifierItem"
MENU_IFACE = "com.canonical.dbusmenu"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"
DBUS_NAME = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"
CALL_TIMEOUT = 10.0  # one D-Bus call
POLL_INTERVAL = 0.1

WATCHER_XML = f"""<node name="{WATCHER_PATH}">
  <interface name="{WATCHER_IFACE}">
    <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
    <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
  </interface>
</node>"""


class DBusCallError(Exception):
    """A call answered with a D-Bus error (`name`, e.g. `org.freedesktop.DBus.Error.UnknownMethod`)."""

    def __init__(self, what: str, name: str, text: str) -> None:
        super().__init__(f"{what}: {name}: {text}")
        self.name = name


def unwrap(value: Any) -> Any:
    """A D-Bus value with every variant replaced by what it holds."""
    if isinstance(value, Variant):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unwrap(v) for v in value]
    return value


def without_mnemonic(label: str) -> str:
    """A dbusmenu label as the user reads it: `_` marks the access key, `__` is an underscore."""
    out, i = [], 0
    while i < len(label):
        if label[i] == "_":
            if label[i + 1 : i + 2] == "_":
                out.append("_")
                i += 1
        else:
            out.append(label[i])
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class MenuNode:
    """One item of a dbusmenu layout; absent properties take the defaults of the dbusmenu spec."""

    id: int
    props: dict[str, Any]
    children: tuple["MenuNode", ...]

    @classmethod
    def parse(cls, raw: Any) -> "MenuNode":
        """From the `(ia{sv}av)` structure of GetLayout."""
        item_id, props, children = unwrap(raw)
        return cls(int(item_id), dict(props), tuple(cls.parse(c) for c in children))

    @property
    def label(self) -> str:
        return without_mnemonic(self.props.get("label", ""))

    @property
    def kind(self) -> str:
        """`standard` or `separator`."""
        return self.props.get("type", "standard")

    @property
    def enabled(self) -> bool:
        return bool(self.props.get("enabled", True))

    @property
    def visible(self) -> bool:
        return bool(self.props.get("visible", True))

    @property
    def toggle_type(self) -> str:
        """`checkmark`, `radio`, or `` for a plain item."""
        return self.props.get("toggle-type", "")

    @property
    def toggled(self) -> bool | None:
        """A check item's state (`toggle-state` 1), None for an item that is not one."""
        return None if not self.toggle_type else self.props.get("toggle-state", 0) == 1

    @property
    def is_submenu(self) -> bool:
        return self.props.get("children-display") == "submenu" or bool(self.children)

    def walk(self) -> Iterator["MenuNode"]:
        """This item and every item below it, depth first, in menu order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, label: str) -> "MenuNode | None":
        """The first visible item below this one whose label is `label` (or starts with it, when
        `label` ends with `*`)."""
        for node in self.walk():
            if node is self or not node.visible:
                continue
            if node.label == label or (label.endswith("*") and node.label.startswith(label[:-1])):
                return node
        return None

    def outline(self, depth: int = 0) -> str:
        """The menu as indented text, with each item's id and state (for failure messages)."""
        lines = []
        for child in self.children:
            if not child.visible:
                continue
            if child.kind == "separator":
                text = "----"
            else:
                flags = [f"#{child.id}"]
                if not child.enabled:
                    flags.append("disabled")
                if child.toggled is not None:
                    flags.append(f"{child.toggle_type}={'on' if child.toggled else 'off'}")
                text = f"{child.label}  [{' '.join(flags)}]"
            lines.append("  " * depth + text)
            if child.children:
                lines.append(child.outline(depth + 1))
        return "\n".join(lines)

    def entries(self) -> list[str]:
        """The visible labels of this item's children, separators as `----`."""
        return ["----" if c.kind == "separator" else c.label for c in self.children if c.visible]


@dataclass(frozen=True)
class Layout:
    revision: int
    root: MenuNode

    def find(self, label: str) -> MenuNode | None:
        return self.root.find(label)

    def item(self, label: str) -> MenuNode:
        """The item labelled `label`; fails the test with the whole menu when there is none."""
        node = self.root.find(label)
        if node is None:
            pytest.fail(f"the tray menu has no item `{label}`:\n{self.root.outline()}", pytrace=False)
        return node

    def __str__(self) -> str:
        return f"revision {self.revision}:\n{self.root.outline()}"


@dataclass
class Signal:
    sender: str
    path: str
    interface: str
    member: str
    body: list[Any]
    at: float = field(default_factory=time.monotonic)


class StatusNotifierHost:
    """The watcher and host of a private session bus (`address`), as a context manager: it owns
    `org.kde.StatusNotifierWatcher` from `__enter__` on, records every item that registers and
    every dbusmenu signal, and gives `TrayItem`s to read and click."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bus: MessageBus | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._items: list[tuple[str, str]] = []  # (bus name, object path), in registration order
        self._signals: list[Signal] = []

    # --- lifetime ---------------------------------------------------------------------------

    def __enter__(self) -> "StatusNotifierHost":
        self._thread = threading.Thread(target=self._run, name="tray-host", daemon=True)
        self._thread.start()
        if not self._ready.wait(CALL_TIMEOUT) or self._error is not None:
            self.__exit__()
            pytest.fail(f"the test's StatusNotifierWatcher did not start on {self.address}: {self._error}", pytrace=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(CALL_TIMEOUT)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # reported by __enter__, or by the next call
            self._error = e
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        bus = await MessageBus(bus_address=self.address).connect()
        self._bus = bus
        try:
            bus.add_message_handler(self._on_message)
            # Signals of every tray menu (LayoutUpdated, ItemsPropertiesUpdated) and item.
            for interface in (MENU_IFACE, ITEM_IFACE):
                await self._dbus("AddMatch", "s", [f"type='signal',interface='{interface}'"])
            owned = await self._dbus("RequestName", "su", [WATCHER_NAME, 4])  # DO_NOT_QUEUE
            if owned[0] != 1:  # PRIMARY_OWNER
                raise RuntimeError(f"`{WATCHER_NAME}` is already owned on this bus (reply {owned[0]})")
            self._ready.set()
            await self._stop.wait()
        finally:
            bus.disconnect()

    async def _dbus(self, member: str, signature: str, body: list[Any]) -> list[Any]:
        assert self._bus is not None
        reply = await self._bus.call(
            Message(destination=DBUS_NAME, path=DBUS_PATH, interface=DBUS_NAME, member=member,
                    signature=signature, body=body)
        )
        if reply.message_type == MessageType.ERROR:
            raise DBusCallError(member, reply.error_name or "", str(reply.body))
        return reply.body

    # --- the watcher ------------------------------------------------------------------------

    def _on_message(self, msg: Message) -> Message | bool | None:
        if msg.message_type == MessageType.SIGNAL:
            if msg.interface in (MENU_IFACE, ITEM_IFACE):
                with self._lock:
                    self._signals.append(Signal(msg.sender or "", msg.path or "", msg.interface, msg.member or "",
                                                unwrap(msg.body)))
            return None
        if msg.message_type != MessageType.METHOD_CALL or msg.path != WATCHER_PATH:
            return None
        call = (msg.interface, msg.member)
        if call == (WATCHER_IFACE, "RegisterStatusNotifierItem"):
            (service,) = msg.body
            # The spec's argument is a bus name; libappindicator sends its object path instead.
            item = (msg.sender, service) if service.startswith("/") else (service, "/StatusNotifierItem")
            with self._lock:
                if item not in self._items:
                    self._items.append(item)
            assert self._bus is not None
            self._bus.send(Message.new_signal(WATCHER_PATH, WATCHER_IFACE, "StatusNotifierItemRegistered", "s",
                                              [f"{item[0]}{item[1]}"]))
            return Message.new_method_return(msg)
        if call == (WATCHER_IFACE, "RegisterStatusNotifierHost"):
            return Message.new_method_return(msg)
        if call == (PROPERTIES_IFACE, "Get"):
            interface, name = msg.body
            props = self._watcher_properties()
            if interface != WATCHER_IFACE or name not in props:
                return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty", f"no property `{name}`")
            return Message.new_method_return(msg, "v", [props[name]])
        if call == (PROPERTIES_IFACE, "GetAll"):
            props = self._watcher_properties() if msg.body[0] == WATCHER_IFACE else {}
            return Message.new_method_return(msg, "a{sv}", [props])
        if call == ("org.freedesktop.DBus.Introspectable", "Introspect"):
            return Message.new_method_return(msg, "s", [WATCHER_XML])
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod",
                                 f"the test's watcher has no `{msg.interface}.{msg.member}`")

    def _watcher_properties(self) -> dict[str, Variant]:
        with self._lock:
            items = [f"{name}{path}" for name, path in self._items]
        return {
            "RegisteredStatusNotifierItems": Variant("as", items),
            "IsStatusNotifierHostRegistered": Variant("b", True),
            "ProtocolVersion": Variant("i", 0),
        }

    # --- calls from the test's thread -------------------------------------------------------

    def call(self, destination: str, path: str, interface: str, member: str, signature: str = "",
             body: list[Any] | None = None, timeout: float = CALL_TIMEOUT) -> list[Any]:
        """One method call, waited for (bounded); returns the reply's body with variants unwrapped."""
        if self._error is not None or self._loop is None or self._bus is None:
            raise RuntimeError(f"the test's D-Bus connection is down: {self._error}")
        what = f"{destination} {path} {interface}.{member}"
        message = Message(destination=destination, path=path, interface=interface, member=member,
                          signature=signature, body=body or [])
        future = asyncio.run_coroutine_threadsafe(self._bus.call(message), self._loop)
        try:
            reply = future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"{what}: no answer in {timeout} s") from None
        if reply.message_type == MessageType.ERROR:
            raise DBusCallError(what, reply.error_name or "", " ".join(map(str, reply.body)))
        return unwrap(reply.body)

    def has_owner(self, name: str) -> bool:
        return bool(self.call(DBUS_NAME, DBUS_PATH, DBUS_NAME, "NameHasOwner", "s", [name])[0])

    def items(self) -> list["TrayItem"]:
        with self._lock:
            return [TrayItem(self, name, path) for name, path in self._items]

    def wait_item(self, timeout: float, why: Callable[[], str] = lambda: "") -> "TrayItem":
        """The first item that registered, waiting (bounded) for one; `why()` is added to the
        failure (e.g. the app's log)."""
        deadline = time.monotonic() + timeout
        while not (items := self.items()):
            if time.monotonic() > deadline:
                pytest.fail(f"no StatusNotifierItem registered with the watcher in {timeout} s\n{why()}", pytrace=False)
            time.sleep(POLL_INTERVAL)
        return items[0]

    def signals(self, member: str | None = None, sender: str | None = None) -> list[Signal]:
        with self._lock:
            return [s for s in self._signals
                    if (member is None or s.member == member) and (sender is None or s.sender == sender)]


@dataclass
class TrayItem:
    """A registered StatusNotifierItem and its dbusmenu."""

    host: StatusNotifierHost
    service: str  # the unique bus name of the app
    path: str  # e.g. /org/ayatana/NotificationItem/<id>

    def properties(self) -> dict[str, Any]:
        """The item's `org.kde.StatusNotifierItem` properties (Id, Title, Status, Menu, ...)."""
        return self.host.call(self.service, self.path, PROPERTIES_IFACE, "GetAll", "s", [ITEM_IFACE])[0]

    @property
    def menu_path(self) -> str:
        return self.host.call(self.service, self.path, PROPERTIES_IFACE, "Get", "ss", [ITEM_IFACE, "Menu"])[0]

    def layout(self) -> Layout:
        """The whole menu now: `GetLayout(0, -1, [])` (every property of every item)."""
        revision, root = self.host.call(self.service, self.menu_path, MENU_IFACE, "GetLayout", "iias", [0, -1, []])
        return Layout(int(revision), MenuNode.parse(root))

    def wait_layout(self, predicate: Callable[[Layout], Any], timeout: float, message: str) -> Layout:
        """Read the menu again (bounded) until `predicate(layout)` holds; returns that layout, or
        fails the test with `message` and the menu last read."""
        deadline = time.monotonic() + timeout
        while True:
            layout = self.layout()
            if predicate(layout):
                return layout
            if time.monotonic() > deadline:
                pytest.fail(f"{message} (waited {timeout} s); the tray menu at {layout}", pytrace=False)
            time.sleep(POLL_INTERVAL)

    def click(self, node: MenuNode) -> None:
        """Pick `node` as a shell does when the user clicks it: `Event(id, "clicked", 0, now)`."""
        timestamp = int(time.time()) & 0xFFFFFFFF
        self.host.call(self.service, self.menu_path, MENU_IFACE, "Event", "isvu",
                       [node.id, "clicked", Variant("i", 0), timestamp])

    def layout_updates(self) -> list[Signal]:
        """The menu's `LayoutUpdated` signals so far (body: revision, parent id)."""
        return [s for s in self.host.signals("LayoutUpdated", self.service)]
