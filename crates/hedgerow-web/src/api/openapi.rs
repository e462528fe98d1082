//! The OpenAPI 3.0 document of the API, served at `/api/v1/openapi.json` without a token so
//! that tools (and people) can read how to call everything else.
//!
//! It is written by hand, next to the handlers it describes, and two tests keep it true: every
//! route in [`super::ROUTES`] under `/api/v1` is in the document and nothing else is, and every
//! `$ref` resolves. The integration test runs Schemathesis against it, which checks that what
//! the handlers answer fits the response schemas here.

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::people::IMPORT_BODY_LIMIT;
use super::{BODY_LIMIT, json_response};

/// `GET /api/v1/openapi.json`.
pub(super) async fn document() -> Response {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(build);
    json_response(StatusCode::OK, &*DOCUMENT).into_response()
}

// --- small builders ----------------------------------------------------------------------------

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}

fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn date() -> Value {
    json!({ "type": "string", "format": "date" })
}

fn integer() -> Value {
    json!({ "type": "integer", "format": "int64" })
}

fn count() -> Value {
    json!({ "type": "integer", "format": "int64", "minimum": 0 })
}

fn boolean() -> Value {
    json!({ "type": "boolean" })
}

fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn strings() -> Value {
    array(string())
}

fn enumeration(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

/// An object with exactly these properties, the `required` ones always present.
fn object(required: &[&str], properties: Value) -> Value {
    json!({
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    })
}

/// An object whose every property is always present (nullable ones as null).
fn record(properties: Value) -> Value {
    let required: Vec<&str> = properties
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    object(&required, properties.clone())
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn path_id(what: &str) -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": format!("The {what}'s id, as the API lists it."),
        "schema": integer(),
    })
}

fn json_body(schema: &str, description: &str) -> Value {
    json!({
        "required": true,
        "description": description,
        "content": { "application/json": { "schema": r(schema) } },
    })
}

/// What an operation may answer besides its success.
#[derive(Clone, Copy)]
enum Refusals {
    /// Query parameters only (and the token).
    Read,
    /// A path id (and perhaps query parameters).
    ReadOne,
    /// A JSON body.
    Write,
    /// A path id and a JSON body, on a record with a state (409).
    WriteOne,
    /// A path id, no body, on a record with a state.
    Act,
}

fn refusal(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": r("Error") } },
    })
}

fn add_refusals(responses: &mut Map<String, Value>, refusals: Refusals) {
    let mut codes = vec!["400", "401", "403", "422", "429", "503"];
    match refusals {
        Refusals::Read => {}
        Refusals::ReadOne => codes.push("404"),
        Refusals::Write => codes.extend(["413", "415"]),
        Refusals::WriteOne => codes.extend(["404", "409", "413", "415"]),
        Refusals::Act => codes.extend(["404", "409"]),
    }
    for code in codes {
        let description = match code {
            "400" => "The request could not be read: a malformed parameter, id or JSON body.",
            "401" => "No API token, or one that is wrong, revoked, or whose account is disabled.",
            "403" => "The token's account does not hold the permission this needs.",
            "404" => "There is no such record in the account's school.",
            "409" => "The record is not in a state that allows this.",
            "413" => "The request body is larger than the limit.",
            "415" => "The request body is not sent as application/json.",
            "422" => "The request was read, but what it asks for is not acceptable.",
            "429" => "Too many requests from this address had a wrong token; see Retry-After.",
            _ => "Hedgerow cannot reach its store (or the gateway) just now; try again.",
        };
        responses.insert(code.to_owned(), refusal(description));
    }
}

/// One operation: summary, the permission it needs, parameters, body, success and refusals.
struct Op {
    summary: &'static str,
    operation_id: &'static str,
    description: String,
    permission: &'static str,
    parameters: Vec<Value>,
    body: Option<Value>,
    status: &'static str,
    success: &'static str,
    schema: Option<Value>,
    refusals: Refusals,
    links: Option<Value>,
}

impl Op {
    fn new(summary: &'static str, operation_id: &'static str, permission: &'static str) -> Op {
        Op {
            summary,
            operation_id,
            description: String::new(),
            permission,
            parameters: Vec::new(),
            body: None,
            status: "200",
            success: "Done.",
            schema: None,
            refusals: Refusals::Read,
            links: None,
        }
    }

    /// Where the success's answer leads: `(name, operationId, parameter, JSON pointer)`, so
    /// tools (Schemathesis' stateful phase) can follow a made record to what acts on it.
    fn links(mut self, links: &[(&str, &str, &str, &str)]) -> Op {
        let mut map = Map::new();
        for (name, operation, parameter, pointer) in links {
            map.insert(
                (*name).to_owned(),
                json!({
                    "operationId": operation,
                    "parameters": { *parameter: format!("$response.body#{pointer}") },
                }),
            );
        }
        self.links = Some(Value::Object(map));
        self
    }

    fn describe(mut self, text: &str) -> Op {
        self.description = text.to_owned();
        self
    }

    fn params(mut self, parameters: Vec<Value>) -> Op {
        self.parameters = parameters;
        self
    }

    fn body(mut self, body: Value) -> Op {
        self.body = Some(body);
        self
    }

    fn answers(mut self, status: &'static str, success: &'static str, schema: Value) -> Op {
        self.status = status;
        self.success = success;
        self.schema = Some(schema);
        self
    }

    fn empty(mut self, success: &'static str) -> Op {
        self.status = "204";
        self.success = success;
        self.schema = None;
        self
    }

    fn refusals(mut self, refusals: Refusals) -> Op {
        self.refusals = refusals;
        self
    }

    fn build(self) -> Value {
        let mut responses = Map::new();
        let mut success = match self.schema {
            Some(schema) => json!({
                "description": self.success,
                "content": { "application/json": { "schema": schema } },
            }),
            None => json!({ "description": self.success }),
        };
        if let Some(links) = self.links {
            success["links"] = links;
        }
        responses.insert(self.status.to_owned(), success);
        add_refusals(&mut responses, self.refusals);
        let description = if self.permission.is_empty() {
            self.description
        } else {
            format!(
                "{}{}Needs the permission `{}`.",
                self.description,
                if self.description.is_empty() { "" } else { " " },
                self.permission
            )
        };
        let mut op = json!({
            "operationId": self.operation_id,
            "summary": self.summary,
            "description": description,
            "parameters": self.parameters,
            "responses": responses,
        });
        if let Some(body) = self.body {
            op["requestBody"] = body;
        }
        op
    }
}

// --- the document ------------------------------------------------------------------------------

fn explorer_filters() -> Vec<Value> {
    vec![
        query(
            "since",
            "Only events at or after this time (RFC 3339).",
            time(),
        ),
        query("until", "Only events before this time (RFC 3339).", time()),
        query("user", "Only this user name (exact).", string()),
        query("device", "Only this device name (exact).", string()),
        query("client_ip", "Only this client address.", string()),
        query("category", "Only this category (exact).", string()),
        query(
            "verdict",
            "Only allowed or only blocked events.",
            enumeration(&["allow", "block"]),
        ),
        query(
            "source",
            "Only events seen by the DNS filter, the web proxy or an explain lookup.",
            enumeration(&["dns", "proxy", "explain"]),
        ),
        query(
            "search",
            "Only events whose search term contains this text, ignoring case.",
            string(),
        ),
        query("host", "Only this host name.", string()),
        query("subdomains", "With host: its subdomains too.", boolean()),
        query(
            "cursor",
            "Continue after the page whose next_cursor this is.",
            string(),
        ),
        query(
            "purpose",
            "Why you are reading; written to the audit log (prefixed `API:`).",
            string(),
        ),
    ]
}

fn paths() -> Value {
    let mut explore_params = explorer_filters();
    explore_params.push(query(
        "page_size",
        "Events per page (default 100).",
        json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
    ));
    let change_filters = vec![
        query(
            "text",
            "Text in the reason, the difference, the change or its source (ignoring case).",
            string(),
        ),
        query(
            "kind",
            "Only this kind (unblock-for-pupils, block, override, sanction, category-action, review-decline).",
            string(),
        ),
        query(
            "status",
            "Only this status.",
            enumeration(&[
                "pending_approval",
                "applied",
                "rejected",
                "expired",
                "reverted",
            ]),
        ),
        query(
            "person",
            "Proposed, approved, rejected or reverted by this username.",
            string(),
        ),
        query("since", "Proposed at or after (RFC 3339).", time()),
        query("until", "Proposed before (RFC 3339).", time()),
        query(
            "limit",
            "Changes per page (default 50).",
            json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
        ),
        query(
            "offset",
            "Changes to skip.",
            json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295u64 }),
        ),
    ];
    let no_security = json!([]);
    let mut openapi = Op::new("This document", "getOpenApi", "")
        .describe("The OpenAPI document of this API. Needs no token.")
        .answers("200", "The document.", json!({ "type": "object" }))
        .build();
    openapi["security"] = no_security;
    if let Some(responses) = openapi["responses"].as_object_mut() {
        responses.retain(|code, _| code == "200");
    }
    let mut paths = Map::new();
    paths.insert("/api/v1/openapi.json".into(), json!({ "get": openapi }));
    paths.insert("/api/v1/me".into(), json!({ "get": Op::new("Who the token acts as", "getMe", "")
            .describe("The token's account, its roles, what they allow, and its school. Any valid token.")
            .answers("200", "The account.", r("Me")).build() }));
    paths.insert("/api/v1/summary".into(), json!({ "get": Op::new("Dashboard figures", "getSummary", "ViewAggregates")
            .describe("Counts for a period (the last seven days unless since/until say otherwise): no person is named. Waiting requests and changes, the last check and the next review are given to those who may see them, null otherwise.")
            .params(vec![
                query("since", "Start of the period (RFC 3339; default: seven days before until).", time()),
                query("until", "End of the period (RFC 3339; default: now).", time()),
                query("top", "How many of the most-blocked sites (default 10).", json!({ "type": "integer", "minimum": 1, "maximum": 100 })),
            ])
            .answers("200", "The figures.", r("Summary")).build() }));
    paths.insert("/api/v1/activity".into(), json!({ "get": Op::new("Search activity", "searchActivity", "ViewPersonActivity")
            .describe("One page of the school's activity, newest first, with the activity explorer's filters. Every read is audited (`activity.read`).")
            .params(explore_params)
            .answers("200", "One page; next_cursor continues it, null on the last page.", r("ExplorerPage")).build() }));
    paths.insert("/api/v1/activity/person/{username}".into(), json!({ "get": Op::new("A person's timeline", "getPersonTimeline", "ViewPersonActivity")
            .describe("One person's activity between since and until (the last seven days by default), oldest first. Audited (`activity.read`).")
            .params(vec![
                json!({ "name": "username", "in": "path", "required": true, "description": "The user name (exact).", "schema": string() }),
                query("since", "Start (RFC 3339; default: seven days before until).", time()),
                query("until", "End (RFC 3339; default: now).", time()),
                query("limit", "At most this many events (default 1000).", json!({ "type": "integer", "minimum": 1, "maximum": 5000 })),
                query("purpose", "Why you are reading; written to the audit log (prefixed `API:`).", string()),
            ])
            .answers("200", "The timeline.", r("Timeline"))
            .refusals(Refusals::ReadOne).build() }));
    let mut export_responses = Map::new();
    export_responses.insert(
        "200".into(),
        json!({
            "description": "The CSV.",
            "content": { "text/csv": { "schema": { "type": "string" } } },
        }),
    );
    add_refusals(&mut export_responses, Refusals::Read);
    paths.insert("/api/v1/activity/export".into(), json!({ "get": {
        "operationId": "exportActivity",
        "summary": "Export activity as CSV",
        "description": "Every event matching the filters (as for /api/v1/activity), newest first, as CSV with a header line; cells a spreadsheet would run as formulas are defused with a leading apostrophe. At most 64 MiB: narrow a larger export. Audited (`activity.export`). Needs the permission `ExportActivity`.",
        "parameters": explorer_filters(),
        "responses": Value::Object(export_responses),
    } }));
    paths.insert("/api/v1/audit".into(), json!({ "get": Op::new("The audit log", "getAuditLog", "ViewAuditLog")
            .describe("The school's newest audit records: every change and every view or export of a person's records.")
            .params(vec![query("limit", "How many (default 100).", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }))])
            .answers("200", "The records, newest first.", r("AuditPage")).build() }));
    paths.insert("/api/v1/policy".into(), json!({ "get": Op::new("The policy in force", "getPolicy", "EditPolicy or ApprovePolicyChange")
            .describe("The school's policy as the gateway enforces it now: the configuration with the changes in force.")
            .answers("200", "The policy.", r("Policy")).build() }));
    paths.insert("/api/v1/changes".into(), json!({
            "get": Op::new("Search the change log", "searchChanges", "EditPolicy, ApprovePolicyChange or ViewChecks")
                .describe("Policy changes, newest first, filtered and paged with limit and offset; total counts every match.")
                .params(change_filters)
                .answers("200", "One page of changes.", r("ChangePage")).build(),
            "post": Op::new("Propose a policy change", "proposeChange", "EditPolicy")
                .describe("Checked against the policy in force (nothing may allow illegal content), then recorded with your reason: applied at once, or pending when the school's approval rules name its kind.")
                .body(json_body("ProposeChange", "The change and why it is made."))
                .answers("201", "The change as recorded.", r("Change"))
                .links(&[
                    ("Read", "getChange", "id", "/id"),
                    ("Approve", "approveChange", "id", "/id"),
                    ("Reject", "rejectChange", "id", "/id"),
                    ("Revert", "revertChange", "id", "/id"),
                ])
                .refusals(Refusals::Write).build(),
        }));
    paths.insert(
        "/api/v1/changes/{id}".into(),
        json!({ "get": Op::new("One change", "getChange", "EditPolicy, ApprovePolicyChange or ViewChecks")
            .params(vec![path_id("change")])
            .answers("200", "The change.", r("Change"))
            .refusals(Refusals::ReadOne).build() }),
    );
    paths.insert("/api/v1/changes/{id}/approve".into(), json!({ "post": Op::new("Approve a pending change", "approveChange", "ApprovePolicyChange")
            .describe("A second person approves: whoever proposed the change cannot (403). It applies at once.")
            .params(vec![path_id("change")])
            .answers("200", "The change, now applied.", r("Change"))
            .refusals(Refusals::Act).build() }));
    paths.insert(
        "/api/v1/changes/{id}/reject".into(),
        json!({ "post": Op::new("Reject a pending change", "rejectChange", "ApprovePolicyChange")
            .params(vec![path_id("change")])
            .body(json_body("Reason", "Why it is rejected."))
            .answers("200", "The change, now rejected.", r("Change"))
            .refusals(Refusals::WriteOne).build() }),
    );
    paths.insert(
        "/api/v1/changes/{id}/revert".into(),
        json!({ "post": Op::new("Revert an applied change", "revertChange", "EditPolicy")
            .describe("Undoes an applied change from now on.")
            .params(vec![path_id("change")])
            .body(json_body("Reason", "Why it is reverted."))
            .answers("200", "The change, now reverted.", r("Change"))
            .refusals(Refusals::WriteOne).build() }),
    );
    paths.insert("/api/v1/review-requests".into(), json!({
            "get": Op::new("Review requests", "listReviewRequests", "ReviewRequests")
                .describe("Requests from the block page and from teachers, newest first.")
                .params(vec![
                    query("status", "Only this status.", enumeration(&["new", "approved", "declined"])),
                    query("limit", "How many (default 100).", json!({ "type": "integer", "minimum": 1, "maximum": 1000 })),
                ])
                .answers("200", "The requests.", r("ReviewRequestPage"))
                .links(&[
                    ("ApproveFirst", "approveReviewRequest", "id", "/requests/0/id"),
                    ("DeclineFirst", "declineReviewRequest", "id", "/requests/0/id"),
                ])
                .build(),
            "post": Op::new("Ask for a site for your class", "askForClass", "RequestAccessForClass")
                .describe("A teacher's request (\"allow this for my class this lesson\"), queued for the DSL, a deputy or the online-safety lead as the requests page queues it: the group and the time go into the comment they read.")
                .body(json_body("AskForClass", "The address, the class's group, when, and what it is for."))
                .answers("201", "The request as queued.", r("ReviewRequest"))
                .links(&[
                    ("Approve", "approveReviewRequest", "id", "/id"),
                    ("Decline", "declineReviewRequest", "id", "/id"),
                ])
                .refusals(Refusals::Write).build(),
        }));
    paths.insert("/api/v1/review-requests/{id}/approve".into(), json!({ "post": Op::new("Approve a review request", "approveReviewRequest", "ReviewRequests")
            .describe("Allows the request's site (blocks it, for a \"should be blocked\" request) for the groups named (every group when none are) for this lesson, today, until a date, or permanently: a site override checked by the gateway like any change (nothing may allow illegal content: 422), recorded as proposed by the requester and approved by you, in force within seconds, ending by itself. When you decide your own request it follows the approval rules and may wait for someone else.")
            .params(vec![path_id("review request")])
            .body(json_body("ApproveReviewRequest", "For whom, for how long, and why."))
            .answers("201", "The change-log entry of the decision.", r("Change"))
            .links(&[("Read", "getChange", "id", "/id"), ("Revert", "revertChange", "id", "/id")])
            .refusals(Refusals::WriteOne).build() }));
    paths.insert("/api/v1/review-requests/{id}/decline".into(), json!({ "post": Op::new("Decline a review request", "declineReviewRequest", "ReviewRequests")
            .describe("Leaves the page as it is, with a reason the requester sees; recorded in the change log.")
            .params(vec![path_id("review request")])
            .body(json_body("Reason", "Why it is declined."))
            .answers("200", "The change-log entry of the decision.", r("Change"))
            .refusals(Refusals::WriteOne).build() }));
    paths.insert("/api/v1/checks".into(), json!({
            "get": Op::new("The check log", "listChecks", "ViewChecks")
                .params(vec![
                    query("limit", "Checks per page (default 50).", json!({ "type": "integer", "minimum": 1, "maximum": 500 })),
                    query("offset", "Checks to skip.", json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295u64 })),
                ])
                .answers("200", "One page of checks, newest first.", r("CheckPage")).build(),
            "post": Op::new("Record a check", "addCheck", "RunChecks")
                .describe("A check made by hand: what was tested, on which group or device, the result and any follow-up.")
                .body(json_body("NewCheck", "The check."))
                .answers("201", "The check as recorded.", r("Check"))
                .links(&[("FollowUpDone", "completeCheckFollowUp", "id", "/id")])
                .refusals(Refusals::Write).build(),
        }));
    paths.insert("/api/v1/checks/self-test".into(), json!({ "post": Op::new("Run the self-test", "runSelfTest", "RunChecks")
            .describe("Runs each category's and each illegal list's test entries through every group's policy and records the result in the check log.")
            .answers("201", "The check recorded.", r("Check")).build() }));
    paths.insert(
        "/api/v1/checks/{id}/follow-up-done".into(),
        json!({ "post": Op::new("Mark a check's follow-up done", "completeCheckFollowUp", "RunChecks")
            .params(vec![path_id("check")])
            .empty("Marked done.")
            .refusals(Refusals::ReadOne).build() }),
    );
    paths.insert("/api/v1/annual-reviews".into(), json!({
            "get": Op::new("Annual reviews", "listAnnualReviews", "ViewChecks")
                .describe("Every annual review of filtering and monitoring, newest first, and when the next is due (overdue when none is recorded).")
                .answers("200", "The reviews.", r("ReviewPage")).build(),
            "post": Op::new("Record an annual review", "addAnnualReview", "EditAnnualReview")
                .describe("Participants must include a governor (role governor or online-safety-governor); next_due must be after held_on.")
                .body(json_body("NewReview", "The review."))
                .answers("201", "The review as recorded.", r("Review"))
                .links(&[("FirstActionDone", "completeReviewAction", "id", "/actions/0/id")])
                .refusals(Refusals::Write).build(),
        }));
    paths.insert(
        "/api/v1/annual-reviews/actions/{id}/done".into(),
        json!({ "post": Op::new("Mark a review action done", "completeReviewAction", "EditAnnualReview")
            .params(vec![path_id("review action")])
            .empty("Marked done.")
            .refusals(Refusals::ReadOne).build() }),
    );
    paths.insert(
        "/api/v1/contacts".into(),
        json!({
            "get": Op::new("The roles and contacts register", "listContacts", "ViewDashboard")
                .answers("200", "The register, in role order.", r("ContactPage")).build(),
            "post": Op::new("Add a contact", "addContact", "ManageContacts")
                .body(json_body("ContactInput", "Who, in which role, and how to reach them."))
                .answers("201", "The entry as recorded.", r("Contact"))
                .links(&[
                    ("Replace", "replaceContact", "id", "/id"),
                    ("Remove", "removeContact", "id", "/id"),
                ])
                .refusals(Refusals::Write).build(),
        }),
    );
    paths.insert(
        "/api/v1/contacts/{id}".into(),
        json!({
            "put": Op::new("Replace a contact", "replaceContact", "ManageContacts")
                .params(vec![path_id("contact")])
                .body(json_body("ContactInput", "The entry's new fields."))
                .answers("200", "The entry as recorded.", r("Contact"))
                .refusals(Refusals::WriteOne).build(),
            "delete": Op::new("Remove a contact", "removeContact", "ManageContacts")
                .params(vec![path_id("contact")])
                .empty("Removed.")
                .refusals(Refusals::ReadOne).build(),
        }),
    );
    paths.insert(
        "/api/v1/settings/lesson-minutes".into(),
        json!({
            "get": Op::new("How long a lesson lasts", "getLessonMinutes", "ReviewRequests")
                .describe("How long \"this lesson\" lasts when a review request is approved for the lesson, in minutes (60 unless set).")
                .answers("200", "The setting.", r("LessonMinutes")).build(),
            "put": Op::new("Set how long a lesson lasts", "setLessonMinutes", "ReviewRequests")
                .describe("1 to 600 minutes; audited (`setting.change`).")
                .body(json_body("LessonMinutes", "The new length."))
                .answers("200", "The setting as saved.", r("LessonMinutes"))
                .refusals(Refusals::Write).build(),
        }),
    );
    paths.insert(
        "/api/v1/settings/approval-rules".into(),
        json!({
            "get": Op::new("The approval rules", "getApprovalRules", "EditPolicy or ApprovePolicyChange")
                .describe("Which kinds of policy change wait for a second person's approval, and every kind with what it means.")
                .answers("200", "The rules.", r("ApprovalRules")).build(),
            "put": Op::new("Set the approval rules", "setApprovalRules", "ApprovePolicyChange")
                .describe("The kinds of change that wait for a second person from now on (an empty list: none). Changes already recorded are not affected. Audited (`change_control.rules`).")
                .body(json_body("ApprovalRulesInput", "The kinds that need approval."))
                .answers("200", "The rules as saved.", r("ApprovalRules"))
                .refusals(Refusals::Write).build(),
        }),
    );
    paths.insert("/api/v1/people".into(), json!({ "get": Op::new("Staff accounts and people counts", "getPeople", "ManageAccounts or ImportPeople")
            .describe("The staff accounts you manage (null unless you hold ManageAccounts; never a password hash or TOTP secret), the roles you may grant, and how many people each group and class has (counts only).")
            .answers("200", "Accounts and counts.", r("People")).build() }));
    let mut import = Op::new("Import pupils, classes or staff", "importPeople", "ImportPeople")
        .describe(&format!("Reads a CSV export of a school information system (at most 5 MB; this endpoint takes bodies of up to {IMPORT_BODY_LIMIT} bytes) and plans what importing it would change. With dry_run, nothing changes; otherwise the import is applied in one transaction (audited as `people.import`, counts only) and the mapping used becomes the school's. A file with any problem is refused whole with 422, listing every problem with its row. mapping is the year group mapping (lines such as `Year 7 = ks3`); the school's saved one, or a suggested one, when absent."))
        .body(json_body("PeopleImport", "The file and what it holds."))
        .answers("200", "What the import changes (or, for a dry run, would change).", r("ImportResult"))
        .refusals(Refusals::Write)
        .build();
    import["responses"]["422"] = json!({
        "description": "Nothing was imported: the file's problems, each with its row where it is about one (or the request was not acceptable).",
        "content": { "application/json": { "schema": { "anyOf": [r("ImportRefused"), r("Error")] } } },
    });
    paths.insert("/api/v1/people/import".into(), json!({ "post": import }));
    paths.insert("/api/v1/people/accounts".into(), json!({ "post": Op::new("Create a staff account", "createAccount", "ManageAccounts")
            .describe("Roles you may grant only (a role that reads browsing is granted only by the DSL or the headteacher; trust-admin only by a trust administrator: 403 otherwise); a first password within the password rules. When the roles need a second factor the answer holds the TOTP secret, shown this once. Audited.")
            .body(json_body("NewAccount", "The account."))
            .answers("201", "The account made.", r("AccountChanged"))
            .links(&[
                ("SetRoles", "setAccountRoles", "id", "/account/id"),
                ("Disable", "disableAccount", "id", "/account/id"),
                ("Enable", "enableAccount", "id", "/account/id"),
            ])
            .refusals(Refusals::Write).build() }));
    paths.insert("/api/v1/people/accounts/{id}/roles".into(), json!({ "post": Op::new("Set an account's roles", "setAccountRoles", "ManageAccounts")
            .describe("Gives the account exactly these roles. Each role added or taken away must be one you may grant (403); at least one role; not the token's own account (422). When the new roles need a second factor and the account has none, the answer holds a new TOTP secret, shown this once. Audited.")
            .params(vec![path_id("account")])
            .body(json_body("RolesInput", "The roles the account is to hold."))
            .answers("200", "The account now.", r("AccountChanged"))
            .refusals(Refusals::WriteOne).build() }));
    paths.insert("/api/v1/people/accounts/{id}/disable".into(), json!({ "post": Op::new("Disable an account", "disableAccount", "ManageAccounts")
            .describe("The account can no longer sign in, and its API tokens stop working. Not your own (422), nor one holding a role you could not grant (403). Audited.")
            .params(vec![path_id("account")])
            .answers("200", "The account now.", r("Account"))
            .refusals(Refusals::Act).build() }));
    paths.insert(
        "/api/v1/people/accounts/{id}/enable".into(),
        json!({ "post": Op::new("Enable an account", "enableAccount", "ManageAccounts")
            .describe("The account may sign in again. The same limits as disabling. Audited.")
            .params(vec![path_id("account")])
            .answers("200", "The account now.", r("Account"))
            .refusals(Refusals::Act).build() }),
    );
    Value::Object(paths)
}

fn schemas() -> Value {
    let action_names = enumeration(&["allow", "block", "allow-during", "allow-for"]);
    let change_action = json!({
        "description": "allow, block, {\"allow-during\": [schedule keys]} or {\"allow-for\": [usernames]}.",
        "oneOf": [
            enumeration(&["allow", "block"]),
            object(&["allow-during"], json!({ "allow-during": strings() })),
            object(&["allow-for"], json!({ "allow-for": strings() })),
        ],
    });
    let count_list = array(r("Count"));
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        object(
            &["error"],
            json!({
                "error": { "type": "string", "description": "What was wrong and what to do." },
            }),
        ),
    );
    schemas.insert(
        "Me".into(),
        record(json!({
            "username": string(),
            "display_name": string(),
            "roles": strings(),
            "permissions": strings(),
            "school": record(json!({ "id": integer(), "slug": string() })),
        })),
    );
    schemas.insert(
        "Count".into(),
        record(json!({ "key": nullable(string()), "count": count() })),
    );
    schemas.insert(
        "Summary".into(),
        record(json!({
            "since": time(),
            "until": time(),
            "total_events": count(),
            "blocked_events": count(),
            "circumvention_attempts": count(),
            "blocks_by_category": count_list,
            "blocks_by_group": count_list,
            "top_blocked_hosts": count_list,
            "blocked_today": count(),
            "pending_review_requests": nullable(count()),
            "pending_changes": nullable(count()),
            "last_check_at": nullable(time()),
            "next_review_due": nullable(date()),
            "review_overdue": nullable(boolean()),
        })),
    );
    schemas.insert(
        "Event".into(),
        record(json!({
            "id": integer(),
            "at": time(),
            "source": enumeration(&["dns", "proxy", "explain"]),
            "client_ip": string(),
            "user": nullable(string()),
            "device": nullable(string()),
            "group": nullable(string()),
            "host": string(),
            "url": nullable(string()),
            "method": nullable(string()),
            "qtype": nullable(string()),
            "category": nullable(string()),
            "verdict": enumeration(&["allow", "block"]),
            "rule": string(),
            "reason": nullable(string()),
            "search_term": nullable(string()),
            "page_title": nullable(string()),
            "status": nullable(count()),
            "bytes": nullable(count()),
            "duration_us": nullable(count()),
        })),
    );
    schemas.insert(
        "ExplorerPage".into(),
        record(json!({
            "events": array(r("Event")),
            "next_cursor": nullable(string()),
        })),
    );
    schemas.insert(
        "Timeline".into(),
        record(json!({
            "username": string(),
            "since": time(),
            "until": time(),
            "events": array(r("Event")),
        })),
    );
    schemas.insert(
        "AuditEntry".into(),
        record(json!({
            "id": integer(),
            "at": time(),
            "actor": string(),
            "action": string(),
            "target": string(),
            "detail": string(),
            "from_addr": nullable(string()),
        })),
    );
    schemas.insert(
        "AuditPage".into(),
        record(json!({ "entries": array(r("AuditEntry")) })),
    );
    schemas.insert(
        "PolicyAction".into(),
        object(
            &["action"],
            json!({
                "action": action_names,
                "schedules": strings(),
                "users": strings(),
            }),
        ),
    );
    schemas.insert(
        "GroupAction".into(),
        object(
            &["action", "selector"],
            json!({
                "selector": { "type": "string", "description": "A category key, or list:NAME." },
                "action": action_names,
                "schedules": strings(),
                "users": strings(),
            }),
        ),
    );
    schemas.insert(
        "Group".into(),
        record(json!({
            "key": string(),
            "name": string(),
            "kind": enumeration(&["pupil", "staff", "visitor", "unidentified"]),
            "default": r("PolicyAction"),
            "actions": array(r("GroupAction")),
            "search": record(json!({
                "safe_search": boolean(),
                "youtube": enumeration(&["off", "moderate", "strict"]),
                "block_unsafe_engines": boolean(),
            })),
            "web": record(json!({
                "inspect": object(&["scope"], json!({
                    "scope": enumeration(&["nothing", "all", "categories"]),
                    "categories": strings(),
                })),
                "blocked_file_types": strings(),
                "download_limit_bytes": nullable(count()),
            })),
        })),
    );
    schemas.insert("Policy".into(), record(json!({
            "school": string(),
            "school_name": string(),
            "time_zone": nullable(string()),
            "unknown_group": string(),
            "groups": array(r("Group")),
            "schedules": array(record(json!({
                "key": string(),
                "weekdays": array(enumeration(&["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])),
                "school_days": boolean(),
                "times": array(record(json!({
                    "start": { "type": "string", "description": "HH:MM" },
                    "end": { "type": "string", "description": "HH:MM; 24:00 for midnight at the end of the day" },
                }))),
            }))),
            "terms": array(record(json!({ "name": string(), "start": date(), "end": date() }))),
            "closures": array(record(json!({ "start": date(), "end": date(), "reason": string() }))),
            "overrides": array(record(json!({
                "id": string(),
                "host": string(),
                "path": nullable(string()),
                "verdict": enumeration(&["allow", "block"]),
                "groups": nullable(strings()),
                "until": nullable(time()),
                "by": string(),
                "reason": string(),
            }))),
            "sanctions": array(record(json!({
                "id": string(),
                "username": string(),
                "kind": enumeration(&["no-internet", "restricted"]),
                "filter_as": nullable(string()),
                "until": time(),
                "by": string(),
                "reason": string(),
            }))),
            "unsafe_search_engines": strings(),
            "online_safety_lead": nullable(string()),
            "online_safety_contact": nullable(string()),
        })));
    schemas.insert("ChangeAction".into(), change_action);
    schemas.insert("SiteOverride".into(), object(&["type", "host", "verdict"], json!({
            "type": enumeration(&["site-override"]),
            "host": { "type": "string", "description": "A host name (its subdomains are covered too) or address." },
            "path": { "type": "string", "description": "Only paths starting with this (which starts with /)." },
            "verdict": enumeration(&["allow", "block"]),
            "groups": { "type": "array", "items": string(), "description": "Group keys; every group when absent." },
            "until": { "type": "string", "format": "date-time", "description": "When it stops applying; for good when absent." },
        })));
    schemas.insert("RemoveOverride".into(), object(&["type", "id"], json!({
            "type": enumeration(&["remove-override"]),
            "id": { "type": "string", "description": "The override's id (from the configuration, or change-N)." },
        })));
    schemas.insert("Sanction".into(), object(&["type", "username", "until"], json!({
            "type": enumeration(&["sanction"]),
            "username": string(),
            "filter_as": { "type": "string", "description": "A stricter group to filter the user as; no internet at all when absent." },
            "until": time(),
        })));
    schemas.insert(
        "LiftSanction".into(),
        object(
            &["type", "id"],
            json!({
                "type": enumeration(&["lift-sanction"]),
                "id": string(),
            }),
        ),
    );
    schemas.insert(
        "CategoryAction".into(),
        object(
            &["type", "group", "selector"],
            json!({
                "type": enumeration(&["category-action"]),
                "group": string(),
                "selector": { "type": "string", "description": "A category key, or list:NAME." },
                "action": r("ChangeAction"),
            }),
        ),
    );
    schemas.insert(
        "GroupDefault".into(),
        object(
            &["type", "group", "action"],
            json!({
                "type": enumeration(&["group-default"]),
                "group": string(),
                "action": r("ChangeAction"),
            }),
        ),
    );
    schemas.insert(
        "PolicyChange".into(),
        json!({
            "description": "One change to the policy, tagged by type.",
            "oneOf": [
                r("SiteOverride"), r("RemoveOverride"), r("Sanction"),
                r("LiftSanction"), r("CategoryAction"), r("GroupDefault"),
            ],
        }),
    );
    schemas.insert("ProposeChange".into(), object(&["change", "reason"], json!({
            "change": r("PolicyChange"),
            "reason": { "type": "string", "minLength": 1, "maxLength": 2000, "description": "Why the change is made (required, one line)." },
        })));
    schemas.insert("Reason".into(), object(&["reason"], json!({
            "reason": { "type": "string", "minLength": 1, "maxLength": 2000, "description": "Why (one line)." },
        })));
    schemas.insert("Change".into(), record(json!({
            "id": integer(),
            "created_at": time(),
            "created_by": string(),
            "reason": string(),
            "kind": string(),
            "change": { "description": "The change as proposed (a PolicyChange), or null for a declined review request." },
            "diff": string(),
            "status": enumeration(&["pending_approval", "applied", "rejected", "expired", "reverted"]),
            "source": { "type": "string", "description": "admin (the pages), api, or review-request:N." },
            "applies_until": nullable(time()),
            "applied_at": nullable(time()),
            "approved_by": nullable(string()),
            "approved_at": nullable(time()),
            "rejected_by": nullable(string()),
            "rejected_at": nullable(time()),
            "rejected_reason": nullable(string()),
            "reverted_by": nullable(string()),
            "reverted_at": nullable(time()),
            "revert_reason": nullable(string()),
        })));
    schemas.insert(
        "ChangePage".into(),
        record(json!({
            "total": count(),
            "limit": count(),
            "offset": count(),
            "changes": array(r("Change")),
        })),
    );
    schemas.insert(
        "ReviewRequest".into(),
        record(json!({
            "id": integer(),
            "created_at": time(),
            "requested_by_user": nullable(string()),
            "device": nullable(string()),
            "client_addr": string(),
            "url": string(),
            "host": string(),
            "kind": enumeration(&["should_not_be_blocked", "should_be_blocked"]),
            "verdict_at_request": enumeration(&["allow", "block"]),
            "category": nullable(string()),
            "rule": nullable(string()),
            "comment": string(),
            "status": enumeration(&["new", "approved", "declined"]),
            "decided_by": nullable(string()),
            "decided_at": nullable(time()),
            "decision_note": nullable(string()),
        })),
    );
    schemas.insert(
        "ReviewRequestPage".into(),
        record(json!({ "requests": array(r("ReviewRequest")) })),
    );
    schemas.insert(
        "Check".into(),
        record(json!({
            "id": integer(),
            "at": time(),
            "checked_by": string(),
            "what": string(),
            "target": string(),
            "method": enumeration(&["manual", "self-test"]),
            "result": enumeration(&["pass", "fail", "partial"]),
            "details": string(),
            "follow_up": nullable(string()),
            "follow_up_done_at": nullable(time()),
            "follow_up_done_by": nullable(string()),
        })),
    );
    schemas.insert(
        "CheckPage".into(),
        record(json!({
            "total": count(),
            "limit": count(),
            "offset": count(),
            "checks": array(r("Check")),
        })),
    );
    schemas.insert("NewCheck".into(), object(&["what", "target", "result"], json!({
            "at": { "type": "string", "format": "date-time", "description": "When the check was made (default: now); not in the future." },
            "what": { "type": "string", "minLength": 1, "maxLength": 500, "description": "What was tested." },
            "target": { "type": "string", "minLength": 1, "maxLength": 500, "description": "On which group or device." },
            "result": enumeration(&["pass", "fail", "partial"]),
            "details": { "type": "string", "maxLength": 200_000 },
            "follow_up": { "type": "string", "maxLength": 2000, "description": "The follow-up action, if one is needed." },
        })));
    schemas.insert("Participant".into(), object(&["name", "role"], json!({
            "name": string(),
            "role": { "type": "string", "description": "A role key such as dsl, governor or online-safety-governor." },
        })));
    schemas.insert(
        "ReviewAction".into(),
        record(json!({
            "id": integer(),
            "action": string(),
            "owner": string(),
            "due_on": nullable(date()),
            "done_at": nullable(time()),
            "done_by": nullable(string()),
        })),
    );
    schemas.insert(
        "Review".into(),
        record(json!({
            "id": integer(),
            "held_on": date(),
            "participants": array(r("Participant")),
            "findings": string(),
            "next_due": date(),
            "actions": array(r("ReviewAction")),
            "recorded_by": string(),
            "recorded_at": time(),
        })),
    );
    schemas.insert(
        "ReviewPage".into(),
        record(json!({
            "next_due": nullable(date()),
            "overdue": boolean(),
            "reviews": array(r("Review")),
        })),
    );
    schemas.insert("NewReview".into(), object(&["held_on", "participants", "findings", "next_due"], json!({
            "held_on": date(),
            "participants": { "type": "array", "items": r("Participant"), "minItems": 1, "maxItems": 50 },
            "findings": { "type": "string", "minLength": 1, "maxLength": 50_000 },
            "next_due": { "type": "string", "format": "date", "description": "After held_on." },
            "actions": { "type": "array", "maxItems": 200, "items": object(&["action", "owner"], json!({
                "action": string(),
                "owner": string(),
                "due_on": date(),
            })) },
        })));
    schemas.insert(
        "Contact".into(),
        record(json!({
            "id": integer(),
            "role": r("ContactRole"),
            "name": string(),
            "email": nullable(string()),
            "phone": nullable(string()),
            "notes": nullable(string()),
            "updated_by": string(),
            "updated_at": time(),
        })),
    );
    schemas.insert(
        "ContactRole".into(),
        enumeration(&[
            "dsl",
            "deputy-dsl",
            "online-safety-lead",
            "online-safety-governor",
            "dpo",
            "network-manager",
            "headteacher",
        ]),
    );
    schemas.insert(
        "ContactPage".into(),
        record(json!({ "contacts": array(r("Contact")) })),
    );
    schemas.insert(
        "ContactInput".into(),
        object(
            &["role", "name"],
            json!({
                "role": r("ContactRole"),
                "name": { "type": "string", "minLength": 1, "maxLength": 200 },
                "email": { "type": "string", "maxLength": 254 },
                "phone": { "type": "string", "maxLength": 50 },
                "notes": { "type": "string", "maxLength": 2000 },
            }),
        ),
    );
    let role_key = enumeration(&[
        "dsl",
        "deputy-dsl",
        "online-safety-lead",
        "headteacher",
        "network-manager",
        "teacher",
        "governor",
        "trust-admin",
    ]);
    let change_kinds = enumeration(&[
        "unblock-for-pupils",
        "block",
        "override",
        "sanction",
        "category-action",
        "schedule",
        "risk-library",
    ]);
    schemas.insert("AskForClass".into(), object(&["url", "when", "comment"], json!({
            "url": { "type": "string", "minLength": 1, "maxLength": 8192, "description": "The address, as in the browser's address bar (https:// is assumed when no scheme is given)." },
            "group": { "type": "string", "maxLength": 100, "description": "The class's group, as the reviewer should read it (for example ks2)." },
            "when": enumeration(&["lesson", "today"]),
            "comment": { "type": "string", "minLength": 1, "maxLength": 1500, "description": "What the class needs it for." },
        })));
    schemas.insert("ApproveReviewRequest".into(), object(&["for", "note"], json!({
            "groups": { "type": "array", "maxItems": 100, "items": { "type": "string", "minLength": 1, "maxLength": 100 }, "description": "Group keys; every group when absent or empty." },
            "for": { "type": "string", "enum": ["lesson", "today", "until", "permanent"], "description": "This lesson (the lesson-minutes setting from now), today (to midnight in the school's zone), until the date in until, or permanently." },
            "until": { "type": "string", "description": "With for = until: a date (access to the end of that day) or a local date and time such as 2026-11-23T15:30, in the school's zone; in the future." },
            "note": { "type": "string", "minLength": 1, "maxLength": 2000, "description": "Why (one line); the requester sees it." },
        })));
    schemas.insert(
        "LessonMinutes".into(),
        object(
            &["lesson_minutes"],
            json!({
                "lesson_minutes": { "type": "integer", "minimum": 1, "maximum": 600 },
            }),
        ),
    );
    schemas.insert(
        "ApprovalRules".into(),
        record(json!({
            "requires_approval": array(change_kinds.clone()),
            "kinds": array(record(json!({
                "kind": change_kinds.clone(),
                "description": string(),
                "requires_approval": boolean(),
            }))),
        })),
    );
    schemas.insert("ApprovalRulesInput".into(), object(&["requires_approval"], json!({
            "requires_approval": { "type": "array", "maxItems": 50, "items": change_kinds, "description": "The kinds of change that wait for a second person; empty for none." },
        })));
    schemas.insert(
        "Account".into(),
        record(json!({
            "id": integer(),
            "username": string(),
            "display_name": string(),
            "email": string(),
            "roles": array(role_key.clone()),
            "trust_wide": boolean(),
            "totp_enrolled": boolean(),
            "disabled": boolean(),
            "created_at": time(),
            "last_sign_in_at": nullable(time()),
        })),
    );
    schemas.insert(
        "AccountChanged".into(),
        record(json!({
            "account": r("Account"),
            "totp": nullable(record(json!({
                "secret": { "type": "string", "description": "Base32, for typing into an authenticator app." },
                "otpauth_uri": { "type": "string", "description": "The otpauth:// URI, for a QR code." },
            }))),
        })),
    );
    schemas.insert(
        "People".into(),
        record(json!({
            "accounts": nullable(array(r("Account"))),
            "grantable_roles": array(role_key.clone()),
            "groups": array(record(json!({
                "group": string(),
                "kind": enumeration(&["pupil", "staff", "visitor"]),
                "active": count(),
                "disabled": count(),
            }))),
            "classes": array(record(json!({
                "name": string(),
                "year_group": nullable(string()),
                "teacher": nullable(string()),
                "pupils": count(),
            }))),
        })),
    );
    schemas.insert("NewAccount".into(), object(&["username", "display_name", "email", "roles", "password"], json!({
            "username": { "type": "string", "minLength": 1, "maxLength": 100, "description": "ASCII letters, digits, dots, underscores, dashes or @." },
            "display_name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "email": { "type": "string", "minLength": 3, "maxLength": 254 },
            "roles": { "type": "array", "minItems": 1, "maxItems": 16, "items": role_key.clone() },
            "password": { "type": "string", "minLength": 10, "maxLength": 1000, "description": "At least 10 characters, not a common password, not containing the username or name." },
        })));
    schemas.insert(
        "RolesInput".into(),
        object(
            &["roles"],
            json!({
                "roles": { "type": "array", "minItems": 1, "maxItems": 16, "items": role_key },
            }),
        ),
    );
    schemas.insert("PeopleImport".into(), object(&["kind", "csv"], json!({
            "kind": enumeration(&["pupils", "classes", "staff"]),
            "csv": { "type": "string", "minLength": 1, "description": "The CSV file's text (at most 5 MB), with its header row." },
            "mapping": { "type": "string", "maxLength": 20000, "description": "The year group mapping, one `Year N = group` per line; the school's saved one when absent." },
            "disable_missing": { "type": "boolean", "description": "Disable people of this kind who are not in the file (leavers). Default false." },
            "dry_run": { "type": "boolean", "description": "Only show what would change. Default false." },
        })));
    schemas.insert(
        "ImportProblem".into(),
        record(json!({
            "row": nullable(json!({ "type": "integer", "minimum": 1, "description": "The row as a spreadsheet numbers it (the header is row 1)." })),
            "message": string(),
        })),
    );
    schemas.insert(
        "ImportRefused".into(),
        record(json!({
            "error": string(),
            "total": count(),
            "problems": array(r("ImportProblem")),
        })),
    );
    schemas.insert(
        "ImportResult".into(),
        record(json!({
            "kind": enumeration(&["pupils", "classes", "staff"]),
            "dry_run": boolean(),
            "applied": boolean(),
            "rows": count(),
            "encoding": string(),
            "mapping": string(),
            "unused_columns": strings(),
            "warnings": array(r("ImportProblem")),
            "plan": record(json!({
                "created": strings(),
                "created_count": count(),
                "updated": array(record(json!({ "name": string(), "changes": strings() }))),
                "updated_count": count(),
                "unchanged_count": count(),
                "enabled_count": count(),
                "disabled": strings(),
                "disabled_count": count(),
                "conflicts": strings(),
            })),
        })),
    );
    Value::Object(schemas)
}

fn build() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Hedgerow admin API",
            "version": "1",
            "description": format!(
                "The admin app's JSON API: everything the pages do, for scripts and other systems. \
                 Every endpoint but this document needs `Authorization: Bearer <token>`, made on the \
                 admin app's API tokens page (/api-tokens) by an account that may use the API; the \
                 token acts as that account with its roles at the time of each request. Request \
                 bodies are JSON, at most {BODY_LIMIT} bytes (the people import takes more). Refusals are JSON \
                 `{{\"error\": \"...\"}}` saying what was wrong and what to do. Reads of a person's \
                 activity and every change are written to the audit log. See docs/api.md."
            ),
        },
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token: hr_ followed by 43 base64url characters.",
                },
            },
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if key == "$ref"
                        && let Some(target) = v.as_str()
                    {
                        out.push(target.to_owned());
                    }
                    collect_refs(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_api_route_is_documented_and_nothing_else() {
        let doc = build();
        let routes: BTreeSet<(String, String)> = super::super::ROUTES
            .iter()
            .filter(|(_, path)| path.starts_with("/api/v1/"))
            .map(|(method, path)| (method.to_ascii_lowercase(), (*path).to_owned()))
            .collect();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        assert_eq!(
            routes.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routes missing from the OpenAPI document"
        );
        assert_eq!(
            documented.difference(&routes).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "documented operations that are not routes"
        );
    }

    #[test]
    fn every_reference_resolves_and_every_operation_answers() {
        let doc = build();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for target in refs {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{target} is not a schema reference"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{target} does not resolve"
            );
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let responses = op["responses"].as_object().expect("responses");
                assert!(
                    responses.keys().any(|c| c.starts_with('2')),
                    "{method} {path} has no success"
                );
                // Every path parameter in the path is declared, and only those.
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .expect("parameters")
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                let in_path: BTreeSet<&str> = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                    .collect();
                assert_eq!(declared, in_path, "{method} {path}");
                let public = op.get("security") == Some(&json!([]));
                assert_eq!(
                    public,
                    path == "/api/v1/openapi.json",
                    "{method} {path}: only the document is public"
                );
                if !public {
                    assert!(responses.contains_key("401"), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique_and_links_lead_to_them() {
        let doc = build();
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("path item").values() {
                let id = op["operationId"].as_str().expect("an operationId");
                assert!(ids.insert(id.to_owned()), "{id} twice");
            }
        }
        let mut linked = 0;
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("path item").values() {
                for response in op["responses"].as_object().expect("responses").values() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        let target = link["operationId"].as_str().expect("operationId");
                        assert!(ids.contains(target), "a link to {target}");
                        linked += 1;
                    }
                }
            }
        }
        assert!(linked >= 8, "{linked} links");
    }

    #[test]
    fn enumerations_follow_the_roles_and_the_kinds_of_change() {
        let doc = build();
        let schemas = &doc["components"]["schemas"];
        let roles: Vec<&str> = hedgerow_accounts::Role::ALL
            .iter()
            .map(|r| r.key())
            .collect();
        assert_eq!(
            schemas["RolesInput"]["properties"]["roles"]["items"]["enum"],
            json!(roles)
        );
        assert_eq!(
            schemas["Account"]["properties"]["roles"]["items"]["enum"],
            json!(roles)
        );
        let kinds: Vec<&str> = hedgerow_policy::change::ChangeKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            schemas["ApprovalRulesInput"]["properties"]["requires_approval"]["items"]["enum"],
            json!(kinds)
        );
        let import_kinds: Vec<&str> = hedgerow_import::Kind::ALL.iter().map(|k| k.key()).collect();
        assert_eq!(
            schemas["PeopleImport"]["properties"]["kind"]["enum"],
            json!(import_kinds)
        );
    }

    #[test]
    fn the_document_is_openapi_3_with_bearer_security() {
        let doc = build();
        assert_eq!(doc["openapi"], "3.0.3");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(doc["security"], json!([{ "bearer": [] }]));
    }
}
