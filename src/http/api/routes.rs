//! Every route of [`super::router`], described: one table, from which `openapi` makes the
//! OpenAPI document, and which `tests/api/openapi.rs` holds to the routes the router serves
//! (a route added without a row here fails that test).

use crate::identity::Capability;
use crate::identity::Capability::*;

/// One route: a method at a path, as `src/api/mod.rs` registers it.
#[derive(Debug)]
pub struct RouteDoc {
    pub method: &'static str,
    /// As axum writes it: `/api/v1/findings/{id}`.
    pub path: &'static str,
    /// The handler's name, unique: the operation's `operationId`.
    pub operation_id: &'static str,
    pub summary: &'static str,
    /// What the handler asks for, any one of them sufficing (the audit log is for admins
    /// and the DSLs); empty: any signed-in principal, or nobody at all on a public route.
    pub capabilities: &'static [Capability],
    /// Served without a bearer secret.
    pub public: bool,
    /// More than the summary and the roles say, for the description (may be empty).
    pub notes: &'static str,
    pub parameters: &'static [Param],
    /// The JSON body's schema, a JSON Schema literal (`#/components/schemas/Role` may be
    /// referred to).
    pub request_body: Option<&'static str>,
    /// The answers besides the 401/403 every protected route may give.
    pub responses: &'static [(u16, &'static str)],
}

/// A query or path parameter.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub location: Location,
    pub required: bool,
    pub kind: Kind,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
        }
    }
}

/// A parameter's JSON Schema type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    String,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::String => "string",
        }
    }
}

const fn path_id(description: &'static str) -> Param {
    Param {
        name: "id",
        location: Location::Path,
        required: true,
        kind: Kind::Integer,
        description,
    }
}

const fn query(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param {
        name,
        location: Location::Query,
        required: false,
        kind,
        description,
    }
}

const SCHOOL_ID: Param = query("school_id", Kind::Integer, "Only this school's.");
const SCHOOL_ID_REQUIRED: Param = Param {
    required: true,
    ..query("school_id", Kind::Integer, "The school.")
};
const FROM: Param = query(
    "from",
    Kind::String,
    "From this time: an RFC 3339 time, or a date (2025-03-11).",
);
const TO: Param = query(
    "to",
    Kind::String,
    "Up to this time: an RFC 3339 time, or a date (2025-03-11).",
);
const LIMIT: Param = query(
    "limit",
    Kind::Integer,
    "At most this many (default 500, at most 5000).",
);

/// `school_id`, `from` and `to` (a date in the school's timezone, `to` including that whole
/// day, or an RFC 3339 time), `limit`: the register routes' query.
const REGISTER_QUERY: &[Param] = &[
    SCHOOL_ID,
    query(
        "from",
        Kind::String,
        "From this time: an RFC 3339 time, or a date (2025-03-11) in the school's timezone.",
    ),
    query(
        "to",
        Kind::String,
        "Up to this time: an RFC 3339 time, or a date (2025-03-11) in the school's timezone, \
         that whole day included.",
    ),
    LIMIT,
];

const REGISTER_RESPONSES: &[(u16, &str)] = &[
    (
        200,
        "The meetings, in the order they were held (oldest first).",
    ),
    (400, "A time or limit that cannot be read."),
    (404, "No such school."),
];

const STATUS_CHANGE: &str = r#"{"type": "object", "additionalProperties": false,
  "properties": {
    "by": {"type": "string", "description": "Who is acting: for the bootstrap token only, which names nobody; a user is recorded by their own name."},
    "note": {"type": "string"}}}"#;

const CREATED: (u16, &str) = (201, "Recorded: `{\"id\"}`.");

/// The routes, in the order `src/api/mod.rs` registers them.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "GET",
        path: "/api/v1/schools",
        operation_id: "list_schools",
        summary: "The schools the principal holds a role at",
        capabilities: &[SeeSchools],
        public: false,
        notes: "",
        parameters: &[],
        request_body: None,
        responses: &[(200, "The schools, with their names and timezones.")],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/schools/{id}/policy/dry-run",
        operation_id: "dry_run_policy",
        summary: "What a proposed policy would have found over the calls of a past period",
        capabilities: &[Configure, SeeSafeguarding],
        public: false,
        notes: "The proposed policy is run over every call that started in the period (and \
                its schedule), judged now, and compared rule by rule with the findings the \
                live policy made of the same calls: `live` and `proposed` counts, the findings \
                `newly_found` and those `no_longer_found`, and the calls with their counts. \
                Nothing is opened, changed or sent; the run is recorded in the audit log as \
                `policy.dry_run`. A period covers at most 92 days. Admins see counts, ids and \
                times; the findings' sentences and the calls' topics are for the DSLs.",
        parameters: &[path_id("The school.")],
        request_body: Some(
            r#"{"type": "object", "additionalProperties": false, "required": ["from", "to"],
  "properties": {
    "from": {"type": "string", "description": "An RFC 3339 time, or a date (2025-03-11) in the school's timezone."},
    "to": {"type": "string", "description": "An RFC 3339 time, or a date in the school's timezone, that whole day included."},
    "policy": {"type": "string", "description": "The proposed policy, TOML as under [school.policy] in the import file: `preset = \"…\"` and `[overrides.<rule>]` tables. Without a preset, the overrides are laid over the school's live policy. Absent: the live policy itself."}}}"#,
        ),
        responses: &[
            (200, "The comparison, rule by rule, and the calls considered."),
            (400, "A body, time or period that cannot be used (more than 92 days, or ending before it starts)."),
            (404, "No such school."),
            (422, "A proposed policy that cannot be used, with the reason."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/connections",
        operation_id: "list_connections",
        summary: "The connected platform accounts and where each platform must deliver",
        capabilities: &[Configure],
        public: false,
        notes: "Secrets are never shown, only whether they are set.",
        parameters: &[],
        request_body: None,
        responses: &[(200, "The connections of the schools the principal configures.")],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/audit",
        operation_id: "list_audit_entries",
        summary: "The audit log, newest first",
        capabilities: &[Configure, SeeSafeguarding],
        public: false,
        notes: "An entry of no school (a trust-wide user) is shown only to a principal who \
                reaches every school.",
        parameters: &[
            SCHOOL_ID,
            query(
                "actor",
                Kind::String,
                "`person`, `token`, `bootstrap` or `system`, or `person:<id>`, `token:<id>`.",
            ),
            query(
                "action",
                Kind::String,
                "An action's exact name (`finding.acknowledged`).",
            ),
            FROM,
            TO,
            LIMIT,
        ],
        request_body: None,
        responses: &[
            (200, "The entries."),
            (400, "An actor or time that cannot be read."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/ledger/verify",
        operation_id: "verify_ledger",
        summary: "Each school's record ledger verified",
        capabilities: &[Configure, SeeSafeguarding],
        public: false,
        notes: "Walks each chain from its first entry, recomputing every hash; holds the head \
                and every signed daily head to the chain; then holds every record the ledger \
                covers to its last entry. `problems` names the first entries that do not \
                match, first one first; `awaiting_ledger` counts records written in the last \
                moments, noted and not yet chained. Without `school_id`, every school the \
                principal reaches.",
        parameters: &[SCHOOL_ID],
        request_body: None,
        responses: &[(200, "The verification of each school's ledger, and this instance's head-signing key.")],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/ledger/heads",
        operation_id: "list_signed_heads",
        summary: "The signed daily heads of each school's ledger, oldest first",
        capabilities: &[Configure, SeeSafeguarding],
        public: false,
        notes: "One per school and local day: the chain's last entry once the day ended, \
                signed with this instance's Ed25519 key.",
        parameters: &[SCHOOL_ID],
        request_body: None,
        responses: &[(200, "The signed heads.")],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/inbox/set-aside",
        operation_id: "list_set_aside",
        summary: "Events received and kept but not applied",
        capabilities: &[Configure],
        public: false,
        notes: "An authentic delivery that cannot be read, an event that failed every \
                attempt: what the register may lack.",
        parameters: &[query(
            "limit",
            Kind::Integer,
            "At most this many (default 100, at most 1000).",
        )],
        request_body: None,
        responses: &[(200, "The events set aside.")],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/subscriptions",
        operation_id: "list_subscriptions",
        summary: "The Google Workspace Events subscriptions held for monitored staff",
        capabilities: &[Configure],
        public: false,
        notes: "",
        parameters: &[query(
            "connection_id",
            Kind::Integer,
            "Only this connection's.",
        )],
        request_body: None,
        responses: &[(200, "The subscriptions, with state, expiry and last error.")],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/meetings",
        operation_id: "list_meetings",
        summary: "The register, call by call",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "",
        parameters: REGISTER_QUERY,
        request_body: None,
        responses: REGISTER_RESPONSES,
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/meetings/{id}",
        operation_id: "get_meeting",
        summary: "One meeting of the register, with its participants",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "",
        parameters: &[path_id("The meeting.")],
        request_body: None,
        responses: &[(200, "The meeting."), (404, "No such meeting.")],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/register",
        operation_id: "export_register_json",
        summary: "The register for a date range, as JSON",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "",
        parameters: REGISTER_QUERY,
        request_body: None,
        responses: REGISTER_RESPONSES,
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/register.csv",
        operation_id: "export_register_csv",
        summary: "The register for a date range, as CSV",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "Times are the school's. Every call of the range, however many (`limit` caps it \
                only when given): the rows are written as they are read, so a failure part way \
                cuts the download short rather than answering an error.",
        parameters: REGISTER_QUERY,
        request_body: None,
        responses: &[
            (200, "`text/csv`, as an attachment `register.csv`."),
            (400, "A time or limit that cannot be read."),
            (404, "No such school."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/schools/{id}/completeness",
        operation_id: "get_completeness",
        summary: "A school's daily completeness statement",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "For one day in the school's timezone: the calls held, how many were reconciled \
                with the platform's participant report, which were not and why, every gap in \
                monitoring open that day, what retention purged, and the statement's lines in \
                plain English (ids, platforms and times only).",
        parameters: &[
            path_id("The school."),
            query(
                "date",
                Kind::String,
                "The day (2025-03-11) in the school's timezone; by default yesterday there.",
            ),
        ],
        request_body: None,
        responses: &[
            (200, "The statement."),
            (400, "A date that cannot be read."),
            (404, "No such school."),
        ],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/meetings/{id}/outcome",
        operation_id: "record_outcome",
        summary: "Writes the outcome of a meeting",
        capabilities: &[RecordSessions],
        public: false,
        notes: "",
        parameters: &[path_id("The meeting.")],
        request_body: Some(
            r#"{"type": "object", "additionalProperties": false, "required": ["outcome"],
  "properties": {"outcome": {"type": "string"}, "written_by_ref": {"type": "string"}}}"#,
        ),
        responses: &[
            CREATED,
            (400, "An empty outcome, or an unknown person."),
            (404, "No such meeting."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/findings",
        operation_id: "list_findings",
        summary: "Findings, newest first",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "A finding that names the principal is left out. Seeing a restricted finding \
                is recorded in the audit log.",
        parameters: &[
            SCHOOL_ID,
            query(
                "status",
                Kind::String,
                "`open`, `acknowledged` or `resolved`.",
            ),
            query(
                "severity",
                Kind::String,
                "`low`, `medium`, `high` or `critical`; several comma-separated.",
            ),
            FROM,
            TO,
            LIMIT,
        ],
        request_body: None,
        responses: &[
            (200, "The findings."),
            (400, "A status, severity or time that cannot be read."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/meetings/{id}/evidence-pack",
        operation_id: "get_call_evidence_pack",
        summary: "A call's evidence pack, for people outside the school",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "One ZIP file: the call's register entries, its findings with their history, the \
                alert deliveries, the settings read, the policy clauses that applied and any \
                outcome as JSON, a printable report, the ledger segment that holds them with \
                every hash up to the signed daily head (or the chain's head), and a manifest \
                signed with this instance's key. `chaperone verify-pack FILE` checks it \
                offline. Findings that name the principal are left out. Producing a pack is \
                recorded in the audit log.",
        parameters: &[path_id("The call (its register record).")],
        request_body: None,
        responses: &[
            (200, "`application/zip`, as an attachment `evidence-call-{id}-{date}.zip`."),
            (404, "No such call."),
            (409, "The ledger has not yet chained the call's records: try again shortly."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/findings/{id}/evidence-pack",
        operation_id: "get_finding_evidence_pack",
        summary: "A finding's evidence pack, for people outside the school",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "As a call's pack, holding this finding only (with its history and alert \
                deliveries) and the register entries of the call it is about. A finding that \
                names the principal does not exist for them (404). Producing a pack is \
                recorded in the audit log.",
        parameters: &[path_id("The finding.")],
        request_body: None,
        responses: &[
            (200, "`application/zip`, as an attachment `evidence-finding-{id}-{date}.zip`."),
            (404, "No such finding."),
            (409, "The ledger has not yet chained the finding: try again shortly."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/findings/{id}",
        operation_id: "get_finding",
        summary: "One finding, with its history and every alert sent about it",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "A finding that names the principal does not exist for them (404). Seeing a \
                restricted finding is recorded in the audit log.",
        parameters: &[path_id("The finding.")],
        request_body: None,
        responses: &[(200, "The finding."), (404, "No such finding.")],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/findings/{id}/acknowledge",
        operation_id: "acknowledge_finding",
        summary: "Acknowledges a finding",
        capabilities: &[ActOnSafeguarding],
        public: false,
        notes: "",
        parameters: &[path_id("The finding.")],
        request_body: Some(STATUS_CHANGE),
        responses: &[
            (200, "The finding as it now is."),
            (400, "The bootstrap token without `by`."),
            (404, "No such finding."),
            (409, "The finding is already resolved."),
        ],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/findings/{id}/resolve",
        operation_id: "resolve_finding",
        summary: "Resolves a finding, with a note saying what was done",
        capabilities: &[ActOnSafeguarding],
        public: false,
        notes: "",
        parameters: &[path_id("The finding.")],
        request_body: Some(STATUS_CHANGE),
        responses: &[
            (200, "The finding as it now is."),
            (400, "No note, or the bootstrap token without `by`."),
            (404, "No such finding."),
            (409, "The finding is already resolved."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/planned-sessions",
        operation_id: "list_planned_sessions",
        summary: "A school's planned sessions",
        capabilities: &[RecordSessions],
        public: false,
        notes: "",
        parameters: &[SCHOOL_ID_REQUIRED, FROM, TO],
        request_body: None,
        responses: &[
            (200, "The planned sessions."),
            (400, "No school, or a time that cannot be read."),
        ],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/planned-sessions",
        operation_id: "register_planned_session",
        summary: "Registers a planned session",
        capabilities: &[RecordSessions],
        public: false,
        notes: "",
        parameters: &[],
        request_body: Some(
            r#"{"type": "object", "additionalProperties": false,
  "required": ["school_id", "host_ref", "starts_at", "ends_at", "purpose"],
  "properties": {
    "school_id": {"type": "integer"},
    "host_ref": {"type": "string", "description": "The member of staff running the session."},
    "pupil_refs": {"type": "array", "items": {"type": "string"}},
    "staff_refs": {"type": "array", "items": {"type": "string"}},
    "starts_at": {"type": "string", "format": "date-time"},
    "ends_at": {"type": "string", "format": "date-time"},
    "purpose": {"type": "string"},
    "approved_by_ref": {"type": "string"},
    "risk_assessment_ref": {"type": "string"},
    "platform_meeting_id": {"type": "string"},
    "adults_only": {"type": "boolean"}}}"#,
        ),
        responses: &[
            CREATED,
            (400, "An unknown person, or a session that cannot be."),
        ],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/planned-sessions/{id}/approve",
        operation_id: "approve_planned_session",
        summary: "Approves a planned session",
        capabilities: &[ActOnSafeguarding],
        public: false,
        notes: "",
        parameters: &[path_id("The planned session.")],
        request_body: Some(
            r#"{"type": "object", "additionalProperties": false, "required": ["approved_by_ref"],
  "properties": {"approved_by_ref": {"type": "string"}}}"#,
        ),
        responses: &[
            (204, "Approved."),
            (400, "An unknown person."),
            (404, "No such planned session."),
        ],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/planned-sessions/{id}/cancel",
        operation_id: "cancel_planned_session",
        summary: "Cancels a planned session",
        capabilities: &[ActOnSafeguarding],
        public: false,
        notes: "",
        parameters: &[path_id("The planned session.")],
        request_body: None,
        responses: &[(204, "Cancelled."), (404, "No such planned session.")],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/consents",
        operation_id: "list_consents",
        summary: "A school's parental consents",
        capabilities: &[SeeSafeguarding],
        public: false,
        notes: "",
        parameters: &[SCHOOL_ID_REQUIRED],
        request_body: None,
        responses: &[(200, "The consents."), (400, "No school.")],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/consents",
        operation_id: "record_consent",
        summary: "Records a parent's consent",
        capabilities: &[ActOnSafeguarding],
        public: false,
        notes: "",
        parameters: &[],
        request_body: Some(
            r#"{"type": "object", "additionalProperties": false,
  "required": ["school_id", "pupil_ref", "signed_on"],
  "properties": {
    "school_id": {"type": "integer"},
    "pupil_ref": {"type": "string"},
    "parent_ref": {"type": "string", "description": "The parent or carer who signed."},
    "signed_on": {"type": "string", "format": "date"},
    "expires_on": {"type": "string", "format": "date"}}}"#,
        ),
        responses: &[CREATED, (400, "An unknown person.")],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/consents/{id}/withdraw",
        operation_id: "withdraw_consent",
        summary: "Records that a consent was withdrawn",
        capabilities: &[ActOnSafeguarding],
        public: false,
        notes: "",
        parameters: &[path_id("The consent.")],
        request_body: Some(
            r#"{"type": "object", "additionalProperties": false, "required": ["withdrawn_on"],
  "properties": {"withdrawn_on": {"type": "string", "format": "date"}}}"#,
        ),
        responses: &[(204, "Withdrawn."), (404, "No such consent.")],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/users",
        operation_id: "create_user",
        summary: "Adds a user with their roles",
        capabilities: &[Configure],
        public: false,
        notes: "Roles only at schools the principal configures; a role at every school needs \
                a trust-wide admin.",
        parameters: &[],
        request_body: Some(
            r##"{"type": "object", "additionalProperties": false, "required": ["email", "name", "roles"],
  "properties": {
    "email": {"type": "string"},
    "name": {"type": "string"},
    "password": {"type": "string", "description": "A local password (at least 12 characters), for installations without single sign-on."},
    "roles": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["role"],
      "properties": {
        "role": {"$ref": "#/components/schemas/Role"},
        "school_id": {"type": "integer", "description": "Absent: every school."}}}}}}"##,
        ),
        responses: &[
            CREATED,
            (400, "No email address or name, or a weak password."),
            (409, "A user has this email address."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/tokens",
        operation_id: "list_tokens",
        summary: "The signed-in user's personal API tokens (never the tokens themselves)",
        capabilities: &[],
        public: false,
        notes: "The bootstrap token has no tokens (403).",
        parameters: &[],
        request_body: None,
        responses: &[(200, "The tokens."), (403, "The bootstrap token.")],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/tokens",
        operation_id: "create_token",
        summary: "Makes a personal API token carrying one of the user's roles",
        capabilities: &[],
        public: false,
        notes: "The answer is the only time the token is shown. A token can make tokens only \
                within what it carries; the bootstrap token makes none (403).",
        parameters: &[],
        request_body: Some(
            r##"{"type": "object", "additionalProperties": false, "required": ["name", "role"],
  "properties": {
    "name": {"type": "string"},
    "role": {"$ref": "#/components/schemas/Role"},
    "school_id": {"type": "integer"},
    "expires_at": {"type": "string", "format": "date-time"}}}"##,
        ),
        responses: &[
            (201, "`{\"id\", \"token\", \"shown_once\": true}`."),
            (400, "No name."),
            (
                403,
                "A role the user does not hold, more than the token carries, or the bootstrap token.",
            ),
        ],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/tokens/{id}/revoke",
        operation_id: "revoke_token",
        summary: "Revokes one of the user's tokens",
        capabilities: &[],
        public: false,
        notes: "",
        parameters: &[path_id("The token.")],
        request_body: None,
        responses: &[
            (204, "Revoked."),
            (403, "The bootstrap token."),
            (404, "No such token of this user."),
        ],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/sign-out",
        operation_id: "sign_out",
        summary: "Ends the session the request came with",
        capabilities: &[],
        public: false,
        notes: "",
        parameters: &[],
        request_body: None,
        responses: &[(204, "Signed out."), (400, "The secret is not a session.")],
    },
    RouteDoc {
        method: "POST",
        path: "/api/v1/sign-in",
        operation_id: "sign_in",
        summary: "A local password for a session secret (`chs_…`), shown once",
        capabilities: &[],
        public: true,
        notes: "A wrong password and an unknown address get the same answer; five wrong in a \
                row lock the account for 15 minutes.",
        parameters: &[],
        request_body: Some(
            r#"{"type": "object", "additionalProperties": false, "required": ["email", "password"],
  "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}"#,
        ),
        responses: &[
            (
                201,
                "`{\"session\", \"idle_timeout_secs\", \"expires_in_secs\"}`.",
            ),
            (400, "A body that cannot be read."),
            (401, "Refused."),
            (429, "The account is locked for now."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/sign-in/oidc",
        operation_id: "start_sign_in",
        summary: "Sends a browser to the identity provider to sign in",
        capabilities: &[],
        public: true,
        notes: "Sets a cookie binding the sign-in to the browser. Refusals are a plain sentence.",
        parameters: &[query(
            "return_to",
            Kind::String,
            "The page of chaperone to come back to (`/a/page`).",
        )],
        request_body: None,
        responses: &[
            (303, "To the provider."),
            (404, "Single sign-on is not configured."),
            (503, "The provider cannot be reached."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/sign-in/oidc/callback",
        operation_id: "finish_sign_in",
        summary: "Where the identity provider sends the browser back, signed in",
        capabilities: &[],
        public: true,
        notes: "Signed in: a new session in the `chaperone_session` cookie and a 303 to the \
                page the sign-in started from. Refusals are a plain sentence.",
        parameters: &[
            query("code", Kind::String, "The provider's authorization code."),
            query("state", Kind::String, "The sign-in's state."),
            query("error", Kind::String, "The provider's refusal."),
            query("iss", Kind::String, "The provider's issuer."),
        ],
        request_body: None,
        responses: &[
            (303, "Signed in, to the page the sign-in started from."),
            (400, "A callback missing its parameters."),
            (401, "Refused."),
            (404, "Single sign-on is not configured."),
            (429, "Too many failed sign-ins; try later."),
            (503, "The provider or its keys cannot be reached."),
        ],
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/openapi.json",
        operation_id: "get_openapi",
        summary: "This document",
        capabilities: &[],
        public: true,
        notes: "It describes the API and reveals no data.",
        parameters: &[],
        request_body: None,
        responses: &[(200, "The OpenAPI 3.1 document.")],
    },
];
