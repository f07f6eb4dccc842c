// Generated from the Rust types of the control API's contract (crates/patchbay-core/src/api.rs).
// Do not edit: run scripts/gen-types.

export type { CallRecord } from './CallRecord';
export type { ClientChange } from './ClientChange';
export type { ClientStatus } from './ClientStatus';
export type { ConnectRequest } from './ConnectRequest';
export type { Connected } from './Connected';
export type { EntryState } from './EntryState';
export type { FittingProfile } from './FittingProfile';
export type { FlowView } from './FlowView';
export type { Format } from './Format';
export type { Grant } from './Grant';
export type { HubEvent } from './HubEvent';
export type { HubStatus } from './HubStatus';
export type { InstallRequest } from './InstallRequest';
export type { Mode } from './Mode';
export type { NewServer } from './NewServer';
export type { ProfileStatus } from './ProfileStatus';
export type { Progress } from './Progress';
export type { RestoreRequest } from './RestoreRequest';
export type { Revoked } from './Revoked';
export type { ServerAdded } from './ServerAdded';
export type { ServerKind } from './ServerKind';
export type { ServerState } from './ServerState';
export type { ServerStatus } from './ServerStatus';
export type { Stage } from './Stage';
export type { StartMode } from './StartMode';
export type { TokenActions } from './TokenActions';
export type { TokenState } from './TokenState';
export type { TokenStatus } from './TokenStatus';
export type { ToolEntry } from './ToolEntry';
