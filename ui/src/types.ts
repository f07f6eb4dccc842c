/**
 * The shapes the shell's commands take and answer and the hub events it forwards: the Rust
 * types themselves, as TypeScript generated from them into `./generated/` (ts-rs, from
 * `crates/patchbay-core/src/api.rs`, `events.rs` and the types they carry; `scripts/gen-types`
 * rewrites them, and a Rust test fails while they differ from the Rust). Field names are the
 * serde ones (snake_case); `Option<T>` arrives as `null`, and a field marked `?` may be absent
 * (skipped when empty, or defaulted by the hub in a request).
 *
 * Views import from here, not from `./generated/`. A type is redefined below only where the
 * window deliberately reads more than the Rust type says (a newer or older hub); each says why.
 */
import type * as Rust from './generated';

export type {
  AcceptToolChanges,
  CallRecord,
  CatalogEntry,
  CatalogPlan,
  CatalogQuestion,
  CatalogRequest,
  CatalogSearch,
  ClientChange,
  ConnectRequest,
  Connected,
  EntryState,
  FieldChange,
  FittingProfile,
  HubEvent,
  InstallRequest,
  NewServer,
  ProfileStatus,
  RestoreRequest,
  Revoked,
  ServerAdded,
  ServerKind,
  Stage,
  TokenActions,
  ToolChange,
  ToolEntry,
} from './generated';

/**
 * A word from a hub newer than this window (a state, stage or entry it does not know yet): the
 * views show it as it is, so every `switch` over such a word keeps a `default`. The shell reads
 * most answers into the Rust types, where such a word fails today; the window keeps the words
 * open all the same, so no view depends on the lists being closed (and `list_clients`, passed
 * through as JSON, does bring one unchecked).
 */
type NewerWord = string & {};

/** `api::ServerStatus`, its `state` open to newer words. A remote server's `command` is its URL;
 * `last_error` is `"disabled"` for a server disabled in the config (with state `stopped`). */
export type ServerStatus = Omit<Rust.ServerStatus, 'state'> & { state: Rust.ServerState | NewerWord };

/** `api::HubStatus`, with the servers as {@link ServerStatus}. */
export type HubStatus = Omit<Rust.HubStatus, 'servers'> & { servers: ServerStatus[] };

/** `oauth::Progress`, its `stage` open to newer words. */
export type Progress = Omit<Rust.Progress, 'stage'> & { stage: Rust.Stage | NewerWord };

/** `api::FlowView`, with the steps as {@link Progress}. */
export type FlowView = Omit<Rust.FlowView, 'progress'> & { progress: Progress[] };

/** `oauth::keeper::TokenStatus` (never a token), its `state` open to newer words. What can be
 * done now is the hub's to say (`actions`). */
export type TokenStatus = Omit<Rust.TokenStatus, 'state'> & { state: Rust.TokenState | NewerWord };

/**
 * `clients::ClientStatus` (as `patchbay clients --json`). The shell passes the hub's JSON
 * through as it is (the Rust type is not read back), so this is the one answer a hub of another
 * version reaches the window unchecked: `entry` is open to newer words, and the fields the hub
 * adds to the listing may be absent (from an older hub, which outlives an updated app):
 * `reload`, what the user does after a change (shown when present); `served_tools`, counted by
 * the hub (without it the window counts every enabled server's tools, for clients installed
 * without a profile); `fitting_profile`, the profile the hub suggests over the tool limit.
 */
export type ClientStatus = Omit<Rust.ClientStatus, 'entry' | 'reload' | 'served_tools' | 'fitting_profile'> & {
  entry: Rust.EntryState | NewerWord;
  reload?: string | null;
  served_tools?: number | null;
  fitting_profile?: Rust.FittingProfile | null;
};

/** The stdio server the add form describes: a {@link Rust.NewServer} with every field the form
 * fills in present (the preview is good only for exactly these). */
export type ServerSpec = Required<Pick<Rust.NewServer, 'name' | 'command' | 'args' | 'env' | 'cwd'>>;

/** How the shell rejects a command (`AppError` in `src-tauri/src/error.rs`). */
export interface ApiError {
  code: string;
  message: string;
}
