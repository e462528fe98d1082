//! People brought in from school information systems: pupils and staff as directory users
//! (the `users` table, with year group, class, e-mail address, staff code and suggested roles
//! beside), and classes with their year and teacher.
//!
//! An import is planned first ([`Store::plan_people_import`]: who would be created, changed,
//! enabled again or disabled, and what cannot be done) and then applied in one transaction
//! ([`Store::import_people`]), which plans again inside the transaction so what is applied is
//! what the database holds at that moment. Nobody is ever deleted: people missing from a file
//! are disabled only when the batch asks for it, and only people an import brought in (not
//! the configuration's own users, nor demo accounts). Every import is audited as
//! `people.import` with counts only, never a name.
//!
//! # Choices
//!
//! * Usernames are matched ignoring case; a matched user keeps the spelling already stored.
//! * An empty optional value (e-mail address, staff code, class, year, roles, teacher, date of
//!   birth) leaves what is stored, so a file without a column does not wipe it.
//! * A plan says a date of birth changes, never what it is: the preview page is seen by staff
//!   who need not know pupils' birthdays.
//! * A username that already belongs to someone of another kind (a staff user in a pupil
//!   file) is a conflict: the import is refused rather than turning staff into pupils.

use std::collections::HashSet;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use jiff::Timestamp;
use sqlx::FromRow;

use crate::StoreError;
use crate::admin::ActingUser;
use crate::model::{SchoolId, UserId, UserKind, timestamp_to_us};
use crate::store::{
    AUDIT_INSERT, Arg, Backend, Store, audit_args, bind_args, unknown_school_or, validate_name,
    validate_text, with_pool,
};

/// The most people or classes one batch may hold (the import reads at most 20,000 rows).
pub const MAX_BATCH: usize = 20_000;
/// The most names a plan lists under each heading; the counts are always whole.
pub const MAX_LISTED: usize = 200;

/// A pupil or member of staff as an import gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPerson {
    /// Sign-in name.
    pub username: String,
    /// Name shown to staff.
    pub display_name: String,
    /// Filtering group key.
    pub group_key: String,
    /// Year group as a label (`Year 7`, `Reception`), for pupils.
    pub year_group: Option<String>,
    /// Class (registration group), for pupils.
    pub class_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Staff code (initials).
    pub staff_code: Option<String>,
    /// Role keys the file suggests, for staff (an import grants nothing).
    pub suggested_roles: Vec<String>,
    /// Date of birth, for pupils (safeguarding records' review dates count from it). `None`
    /// keeps what is stored.
    pub date_of_birth: Option<jiff::civil::Date>,
}

/// A class as an import gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedClass {
    /// The class's name.
    pub name: String,
    /// Its year group as a label.
    pub year_group: Option<String>,
    /// The pupil group its year maps to.
    pub group_key: Option<String>,
    /// Its teacher, as the file gives them.
    pub teacher: Option<String>,
}

/// One import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeopleBatch {
    /// Pupils or staff (`kind` is [`UserKind::Pupil`] or [`UserKind::Staff`]).
    People {
        /// Who the file is about.
        kind: UserKind,
        /// Everyone in the file.
        people: Vec<ImportedPerson>,
        /// Disable people of this kind whom an import brought in and who are not in this file
        /// (leavers).
        disable_missing: bool,
    },
    /// Classes.
    Classes(Vec<ImportedClass>),
}

impl PeopleBatch {
    /// `pupils`, `staff` or `classes`, as the audit log and pages say it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            PeopleBatch::People {
                kind: UserKind::Staff,
                ..
            } => "staff",
            PeopleBatch::People { .. } => "pupils",
            PeopleBatch::Classes(_) => "classes",
        }
    }

    fn len(&self) -> usize {
        match self {
            PeopleBatch::People { people, .. } => people.len(),
            PeopleBatch::Classes(classes) => classes.len(),
        }
    }
}

/// A person or class an import would change, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    /// Username or class name.
    pub name: String,
    /// What changes, in words: `group ks1 → ks2`, `class 3A → 4A`, `enabled again`.
    pub changes: Vec<String>,
}

/// What an import would do (or did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// New people or classes (at most [`MAX_LISTED`] listed).
    pub created: Vec<String>,
    /// How many are new.
    pub created_count: u64,
    /// Changed people or classes (at most [`MAX_LISTED`] listed).
    pub updated: Vec<PlannedChange>,
    /// How many change.
    pub updated_count: u64,
    /// How many are in the file and stored already exactly so.
    pub unchanged_count: u64,
    /// How many of the changed were disabled and are enabled again.
    pub enabled_count: u64,
    /// People who would be disabled as leavers (at most [`MAX_LISTED`] listed).
    pub disabled: Vec<String>,
    /// How many would be disabled.
    pub disabled_count: u64,
    /// Why the import cannot be applied; empty when it can.
    pub conflicts: Vec<String>,
}

impl ImportPlan {
    /// The audit detail: counts only.
    fn audit_detail(&self, batch: &PeopleBatch) -> String {
        format!(
            "kind={} rows={} created={} updated={} unchanged={} enabled={} disabled={}",
            batch.kind_name(),
            batch.len(),
            self.created_count,
            self.updated_count,
            self.unchanged_count,
            self.enabled_count,
            self.disabled_count
        )
    }
}

/// A directory user with what imports record about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Database id.
    pub id: UserId,
    /// Sign-in name.
    pub username: String,
    /// Name shown to staff.
    pub display_name: String,
    /// Pupil, staff or visitor.
    pub kind: UserKind,
    /// Filtering group key.
    pub group_key: String,
    /// Year group label.
    pub year_group: Option<String>,
    /// Class.
    pub class_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Staff code.
    pub staff_code: Option<String>,
    /// Role keys an import suggested.
    pub suggested_roles: Vec<String>,
    /// Disabled people cannot sign in.
    pub disabled: bool,
    /// Whether an import brought them in (else the configuration did).
    pub imported: bool,
    /// Date of birth, when an import gave it (child-protection retention counts from it).
    pub date_of_birth: Option<jiff::civil::Date>,
}

/// A stored class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRecord {
    /// The class's name.
    pub name: String,
    /// Year group label.
    pub year_group: Option<String>,
    /// Pupil group its year maps to.
    pub group_key: Option<String>,
    /// Teacher.
    pub teacher: Option<String>,
}

/// How many people a group has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    /// The group key.
    pub group_key: String,
    /// The kind of people in it (a group could hold more than one kind; each is counted).
    pub kind: UserKind,
    /// Enabled people.
    pub active: u64,
    /// Disabled people.
    pub disabled: u64,
}

/// How many enabled pupils a class has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassCount {
    /// The class's name.
    pub name: String,
    /// Its year group, from the classes import.
    pub year_group: Option<String>,
    /// Its teacher, from the classes import.
    pub teacher: Option<String>,
    /// Enabled pupils in it.
    pub pupils: u64,
}

/// Counts without names, for the people page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeopleCounts {
    /// Per group and kind, ordered by group key.
    pub groups: Vec<GroupCount>,
    /// Per class (every stored class, and every class a pupil names), ordered by name.
    pub classes: Vec<ClassCount>,
}

/// A group's count of one kind of people, enabled or disabled: (group, kind, disabled, count).
type GroupCountRow = (String, String, bool, i64);

pub(crate) const PERSON_COLUMNS: &str = "id, username, display_name, kind, group_key, \
     year_group, class_name, email, staff_code, suggested_roles, disabled, demo_only, source, \
     date_of_birth";

#[derive(FromRow)]
pub(crate) struct PersonRow {
    id: i64,
    username: String,
    display_name: String,
    kind: String,
    group_key: String,
    year_group: Option<String>,
    class_name: Option<String>,
    email: Option<String>,
    staff_code: Option<String>,
    suggested_roles: String,
    disabled: bool,
    demo_only: bool,
    source: String,
    date_of_birth: Option<String>,
}

impl PersonRow {
    fn kind(&self) -> Result<UserKind, StoreError> {
        UserKind::parse(&self.kind).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "user {:?} has unknown kind {:?}",
                self.username, self.kind
            ))
        })
    }

    pub(crate) fn into_person(self) -> Result<Person, StoreError> {
        let date_of_birth = match &self.date_of_birth {
            Some(text) => Some(text.parse().map_err(|e| {
                StoreError::Corrupt(format!(
                    "user {:?} has date of birth {text:?}, which is not a date: {e}",
                    self.username
                ))
            })?),
            None => None,
        };
        Ok(Person {
            date_of_birth,
            id: UserId(self.id),
            kind: self.kind()?,
            suggested_roles: split_roles(&self.suggested_roles),
            imported: self.source == "import",
            username: self.username,
            display_name: self.display_name,
            group_key: self.group_key,
            year_group: self.year_group,
            class_name: self.class_name,
            email: self.email,
            staff_code: self.staff_code,
            disabled: self.disabled,
        })
    }
}

#[derive(FromRow)]
struct ClassRow {
    id: i64,
    name: String,
    year_group: Option<String>,
    group_key: Option<String>,
    teacher: Option<String>,
}

fn split_roles(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join_roles(roles: &[String]) -> Result<String, StoreError> {
    let mut roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    roles.sort_unstable();
    roles.dedup();
    for role in &roles {
        let ok = !role.is_empty()
            && role.len() <= 40
            && role
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(StoreError::invalid(
                "suggested role",
                format!("{role:?} is not a role key (lowercase letters, digits and dashes)"),
            ));
        }
    }
    Ok(roles.join(","))
}

fn validate_optional(
    field: &'static str,
    value: &Option<String>,
    max: usize,
) -> Result<(), StoreError> {
    match value {
        Some(v) => validate_text(field, v, max),
        None => Ok(()),
    }
}

fn validate_batch(batch: &PeopleBatch) -> Result<(), StoreError> {
    if batch.len() > MAX_BATCH {
        return Err(StoreError::invalid(
            "import",
            format!(
                "it has {} rows, more than {MAX_BATCH}; split the file",
                batch.len()
            ),
        ));
    }
    match batch {
        PeopleBatch::People { kind, people, .. } => {
            if *kind == UserKind::Visitor {
                return Err(StoreError::invalid(
                    "import kind",
                    "only pupils and staff are imported; visitors are set up in the configuration",
                ));
            }
            for p in people {
                validate_name("username", &p.username)?;
                validate_text("display name", &p.display_name, 200)?;
                validate_name("group key", &p.group_key)?;
                validate_optional("year group", &p.year_group, 50)?;
                validate_optional("class", &p.class_name, 100)?;
                validate_optional("e-mail address", &p.email, 254)?;
                validate_optional("staff code", &p.staff_code, 20)?;
                join_roles(&p.suggested_roles)?;
                if let Some(date) = p.date_of_birth
                    && !(1..=9999).contains(&date.year())
                {
                    return Err(StoreError::invalid(
                        "date of birth",
                        format!("{} is outside the years 1 to 9999", p.username),
                    ));
                }
            }
        }
        PeopleBatch::Classes(classes) => {
            for c in classes {
                validate_text("class", &c.name, 100)?;
                validate_optional("year group", &c.year_group, 50)?;
                validate_optional("group key", &c.group_key, 200)?;
                validate_optional("teacher", &c.teacher, 200)?;
            }
        }
    }
    Ok(())
}

/// What the database holds that a plan is made against.
enum Existing {
    People(Vec<PersonRow>),
    Classes(Vec<ClassRow>),
}

/// One statement of an applied plan.
enum Step<'a> {
    CreatePerson(&'a ImportedPerson),
    UpdatePerson {
        id: i64,
        person: &'a ImportedPerson,
        old: &'a PersonRow,
    },
    Disable(i64),
    CreateClass(&'a ImportedClass),
    UpdateClass {
        id: i64,
        class: &'a ImportedClass,
        old: &'a ClassRow,
    },
}

fn describe_change(label: &str, old: Option<&str>, new: Option<&str>, changes: &mut Vec<String>) {
    if let Some(new) = new
        && old != Some(new)
    {
        changes.push(match old {
            Some(old) => format!("{label} {old} → {new}"),
            None => format!("{label} {new}"),
        });
    }
}

/// Plans a batch against what is stored: pure, so planning and applying agree.
fn plan<'a>(batch: &'a PeopleBatch, existing: &'a Existing) -> (ImportPlan, Vec<Step<'a>>) {
    let mut plan = ImportPlan::default();
    let mut steps = Vec::new();
    let created = |plan: &mut ImportPlan, name: &str| {
        plan.created_count += 1;
        if plan.created.len() < MAX_LISTED {
            plan.created.push(name.to_owned());
        }
    };
    let updated = |plan: &mut ImportPlan, name: &str, changes: Vec<String>| {
        plan.updated_count += 1;
        if plan.updated.len() < MAX_LISTED {
            plan.updated.push(PlannedChange {
                name: name.to_owned(),
                changes,
            });
        }
    };
    match (batch, existing) {
        (
            PeopleBatch::People {
                kind,
                people,
                disable_missing,
            },
            Existing::People(rows),
        ) => {
            let mut by_name: HashMap<String, Vec<&PersonRow>> = HashMap::new();
            for row in rows {
                by_name
                    .entry(row.username.to_lowercase())
                    .or_default()
                    .push(row);
            }
            let mut in_file = HashSet::new();
            for person in people {
                let key = person.username.to_lowercase();
                in_file.insert(key.clone());
                match by_name.get(&key).map(Vec::as_slice) {
                    None | Some([]) => {
                        created(&mut plan, &person.username);
                        steps.push(Step::CreatePerson(person));
                    }
                    Some([old]) => {
                        if old.kind != kind.as_str() {
                            plan.conflicts.push(format!(
                                "\"{}\" is already a {} user; an import of {} cannot change them: change the username in the file, or remove the row",
                                old.username,
                                old.kind,
                                batch.kind_name()
                            ));
                            continue;
                        }
                        let mut changes = Vec::new();
                        if old.display_name != person.display_name {
                            changes.push("name".to_owned());
                        }
                        describe_change("group", Some(&old.group_key), Some(&person.group_key), &mut changes);
                        describe_change("year", old.year_group.as_deref(), person.year_group.as_deref(), &mut changes);
                        describe_change("class", old.class_name.as_deref(), person.class_name.as_deref(), &mut changes);
                        if person.email.is_some() && person.email != old.email {
                            changes.push("e-mail address".to_owned());
                        }
                        describe_change("staff code", old.staff_code.as_deref(), person.staff_code.as_deref(), &mut changes);
                        if let Some(date) = person.date_of_birth
                            && old.date_of_birth.as_deref() != Some(stored_date(date).as_str())
                        {
                            changes.push("date of birth".to_owned());
                        }
                        let roles = join_roles(&person.suggested_roles).unwrap_or_default();
                        if !roles.is_empty() && roles != old.suggested_roles {
                            changes.push(format!("suggested roles {}", roles.replace(',', ", ")));
                        }
                        if old.source != "import" {
                            changes.push("kept up to date by imports from now on".to_owned());
                        }
                        if old.disabled {
                            changes.push("enabled again".to_owned());
                            plan.enabled_count += 1;
                        }
                        if changes.is_empty() {
                            plan.unchanged_count += 1;
                        } else {
                            updated(&mut plan, &old.username, changes);
                            steps.push(Step::UpdatePerson {
                                id: old.id,
                                person,
                                old,
                            });
                        }
                    }
                    Some(several) => plan.conflicts.push(format!(
                        "{} users already have the username \"{}\" (capitals aside): {}; rename all but one in the configuration first",
                        several.len(),
                        person.username,
                        several.iter().map(|r| r.username.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            if *disable_missing {
                for row in rows {
                    let leaver = row.kind == kind.as_str()
                        && row.source == "import"
                        && !row.disabled
                        && !row.demo_only
                        && !in_file.contains(&row.username.to_lowercase());
                    if leaver {
                        plan.disabled_count += 1;
                        if plan.disabled.len() < MAX_LISTED {
                            plan.disabled.push(row.username.clone());
                        }
                        steps.push(Step::Disable(row.id));
                    }
                }
            }
        }
        (PeopleBatch::Classes(classes), Existing::Classes(rows)) => {
            let by_name: HashMap<String, &ClassRow> =
                rows.iter().map(|r| (r.name.to_lowercase(), r)).collect();
            let mut seen = HashSet::new();
            for class in classes {
                let key = class.name.to_lowercase();
                if !seen.insert(key.clone()) {
                    plan.conflicts.push(format!(
                        "the class \"{}\" is in the file twice; keep one row for it",
                        class.name
                    ));
                    continue;
                }
                match by_name.get(&key) {
                    None => {
                        created(&mut plan, &class.name);
                        steps.push(Step::CreateClass(class));
                    }
                    Some(old) => {
                        let mut changes = Vec::new();
                        describe_change(
                            "year",
                            old.year_group.as_deref(),
                            class.year_group.as_deref(),
                            &mut changes,
                        );
                        describe_change(
                            "group",
                            old.group_key.as_deref(),
                            class.group_key.as_deref(),
                            &mut changes,
                        );
                        describe_change(
                            "teacher",
                            old.teacher.as_deref(),
                            class.teacher.as_deref(),
                            &mut changes,
                        );
                        if changes.is_empty() {
                            plan.unchanged_count += 1;
                        } else {
                            updated(&mut plan, &old.name, changes);
                            steps.push(Step::UpdateClass {
                                id: old.id,
                                class,
                                old,
                            });
                        }
                    }
                }
            }
        }
        _ => plan
            .conflicts
            .push("the store read the wrong records for this import (a bug)".to_owned()),
    }
    (plan, steps)
}

/// Reads what a batch is planned against, with any executor of either backend.
macro_rules! fetch_existing {
    ($executor:expr, $school:expr, $batch:expr) => {
        async {
            match $batch {
                PeopleBatch::People { .. } => {
                    let sql = format!("SELECT {PERSON_COLUMNS} FROM users WHERE school_id = $1");
                    let rows: Vec<PersonRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind($school.0)
                        .fetch_all($executor)
                        .await?;
                    Ok::<_, sqlx::Error>(Existing::People(rows))
                }
                PeopleBatch::Classes(_) => {
                    const SQL: &str = "SELECT id, name, year_group, group_key, teacher \
                         FROM classes WHERE school_id = $1";
                    let rows: Vec<ClassRow> = sqlx::query_as(SQL)
                        .bind($school.0)
                        .fetch_all($executor)
                        .await?;
                    Ok(Existing::Classes(rows))
                }
            }
        }
    };
}

impl Store {
    /// What importing `batch` would do now, without changing anything.
    pub async fn plan_people_import(
        &self,
        school: SchoolId,
        batch: &PeopleBatch,
    ) -> Result<ImportPlan, StoreError> {
        validate_batch(batch)?;
        let existing = with_pool!(&self.backend, pool => {
            fetch_existing!(pool, school, batch).await
        })
        .map_err(StoreError::query("planning an import"))?;
        Ok(plan(batch, &existing).0)
    }

    /// Imports `batch` in one transaction, planning it again inside the transaction, and
    /// audits it as `people.import` with counts only. A plan with conflicts is refused with
    /// [`StoreError::InvalidInput`] and nothing changes. Returns what was done.
    pub async fn import_people(
        &self,
        school: SchoolId,
        batch: &PeopleBatch,
        by: &ActingUser,
    ) -> Result<ImportPlan, StoreError> {
        validate_text("acting user", &by.name, 200)?;
        validate_batch(batch)?;
        let now = timestamp_to_us(Timestamp::now());
        let result: Result<Result<ImportPlan, StoreError>, sqlx::Error> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool.begin_with(self.backend.begin_write_sql()).await?;
                let existing = fetch_existing!(&mut *tx, school, batch).await?;
                let (plan, steps) = plan(batch, &existing);
                if !plan.conflicts.is_empty() {
                    tx.rollback().await?;
                    return Ok(Err(StoreError::invalid("import", plan.conflicts.join("; "))));
                }
                let kind = match batch {
                    PeopleBatch::People { kind, .. } => kind.as_str(),
                    PeopleBatch::Classes(_) => "",
                };
                for step in &steps {
                    let (sql, args) = step.statement(school, kind, now);
                    bind_args!(sqlx::query(sql), args).execute(&mut *tx).await?;
                }
                let detail = plan.audit_detail(batch);
                let target = format!("people:{}", batch.kind_name());
                let audit = audit_args(
                    Some(school),
                    Timestamp::from_microsecond(now).unwrap_or_else(|_| Timestamp::now()),
                    &by.name,
                    "people.import",
                    &target,
                    &detail,
                    by.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Ok(plan))
            }
            .await
        });
        result.map_err(|e| unknown_school_or(e, school, "importing people"))?
    }

    /// A directory user with what imports recorded, by username ignoring case.
    pub async fn person(
        &self,
        school: SchoolId,
        username: &str,
    ) -> Result<Option<Person>, StoreError> {
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM users WHERE school_id = $1 AND lower(username) = lower($2) \
             ORDER BY id LIMIT 1"
        );
        let row: Option<PersonRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(school.0).bind(username).fetch_optional(pool).await
        })
        .map_err(StoreError::query("looking up a person"))?;
        row.map(PersonRow::into_person).transpose()
    }

    /// The people of a class (enabled and disabled), ordered by name.
    pub async fn class_members(
        &self,
        school: SchoolId,
        class: &str,
    ) -> Result<Vec<Person>, StoreError> {
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM users WHERE school_id = $1 AND class_name = $2 \
             ORDER BY display_name, username"
        );
        let rows: Vec<PersonRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(school.0).bind(class).fetch_all(pool).await
        })
        .map_err(StoreError::query("listing a class"))?;
        rows.into_iter().map(PersonRow::into_person).collect()
    }

    /// Every stored class, ordered by name.
    pub async fn classes(&self, school: SchoolId) -> Result<Vec<ClassRecord>, StoreError> {
        const SQL: &str = "SELECT id, name, year_group, group_key, teacher FROM classes \
             WHERE school_id = $1 ORDER BY name";
        let rows: Vec<ClassRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).bind(school.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("listing classes"))?;
        Ok(rows
            .into_iter()
            .map(|r| ClassRecord {
                name: r.name,
                year_group: r.year_group,
                group_key: r.group_key,
                teacher: r.teacher,
            })
            .collect())
    }

    /// Every class a school has: those a class import brought in and those its pupils'
    /// records name (a school may import pupils without importing classes), sorted by name.
    pub async fn class_names(&self, school: SchoolId) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT name FROM classes WHERE school_id = $1 \
             UNION SELECT class_name FROM users \
             WHERE school_id = $1 AND kind = 'pupil' AND disabled = $2 AND class_name IS NOT NULL";
        let mut names: Vec<String> = with_pool!(&self.backend, pool => {
            sqlx::query_scalar(SQL).bind(school.0).bind(false).fetch_all(pool).await
        })
        .map_err(StoreError::query("listing classes"))?;
        names.retain(|name| !name.trim().is_empty());
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// How many people each group has, and how many enabled pupils each class: figures
    /// without names.
    pub async fn people_counts(&self, school: SchoolId) -> Result<PeopleCounts, StoreError> {
        const GROUPS: &str = "SELECT group_key, kind, disabled, COUNT(*) FROM users \
             WHERE school_id = $1 GROUP BY group_key, kind, disabled";
        const CLASSES: &str = "SELECT class_name, COUNT(*) FROM users WHERE school_id = $1 \
             AND kind = 'pupil' AND disabled = $2 AND class_name IS NOT NULL GROUP BY class_name";
        let (group_rows, class_rows): (Vec<GroupCountRow>, Vec<(String, i64)>) =
            with_pool!(&self.backend, pool => {
                async {
                    let groups = sqlx::query_as(GROUPS).bind(school.0).fetch_all(pool).await?;
                    let classes = sqlx::query_as(CLASSES).bind(school.0).bind(false).fetch_all(pool).await?;
                    Ok::<_, sqlx::Error>((groups, classes))
                }
                .await
            })
            .map_err(StoreError::query("counting people"))?;
        let mut groups: BTreeMap<(String, &'static str), GroupCount> = BTreeMap::new();
        for (group_key, kind, disabled, count) in group_rows {
            let kind = UserKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("a user has unknown kind {kind:?}")))?;
            let entry = groups
                .entry((group_key.clone(), kind.as_str()))
                .or_insert(GroupCount {
                    group_key,
                    kind,
                    active: 0,
                    disabled: 0,
                });
            let count = u64::try_from(count).unwrap_or(0);
            if disabled {
                entry.disabled += count;
            } else {
                entry.active += count;
            }
        }
        let mut classes: BTreeMap<String, ClassCount> = self
            .classes(school)
            .await?
            .into_iter()
            .map(|c| {
                (
                    c.name.clone(),
                    ClassCount {
                        name: c.name,
                        year_group: c.year_group,
                        teacher: c.teacher,
                        pupils: 0,
                    },
                )
            })
            .collect();
        for (name, count) in class_rows {
            classes
                .entry(name.clone())
                .or_insert(ClassCount {
                    name,
                    year_group: None,
                    teacher: None,
                    pupils: 0,
                })
                .pupils = u64::try_from(count).unwrap_or(0);
        }
        Ok(PeopleCounts {
            groups: groups.into_values().collect(),
            classes: classes.into_values().collect(),
        })
    }
}

impl Step<'_> {
    /// The step's statement and arguments, so one loop runs it on either backend.
    fn statement(
        &self,
        school: SchoolId,
        kind: &'static str,
        now: i64,
    ) -> (&'static str, Vec<Arg<'_>>) {
        let keep = |new: &Option<String>, old: &Option<String>| -> Option<String> {
            new.clone().or_else(|| old.clone())
        };
        match self {
            Step::CreatePerson(p) => (
                "INSERT INTO users (school_id, username, display_name, kind, group_key, \
                 password_hash, demo_only, created_at_us, disabled, year_group, class_name, \
                 email, staff_code, suggested_roles, source, date_of_birth) \
                 VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10, $11, $12, $13, 'import', \
                 $14)",
                vec![
                    Arg::I64(school.0),
                    Arg::Str(&p.username),
                    Arg::Str(&p.display_name),
                    Arg::Str(kind),
                    Arg::Str(&p.group_key),
                    Arg::Bool(false),
                    Arg::I64(now),
                    Arg::Bool(false),
                    Arg::OptStr(p.year_group.as_deref()),
                    Arg::OptStr(p.class_name.as_deref()),
                    Arg::OptStr(p.email.as_deref()),
                    Arg::OptStr(p.staff_code.as_deref()),
                    Arg::Owned(join_roles(&p.suggested_roles).unwrap_or_default()),
                    opt_owned(p.date_of_birth.map(stored_date)),
                ],
            ),
            Step::UpdatePerson { id, person: p, old } => {
                let roles = join_roles(&p.suggested_roles).unwrap_or_default();
                let roles = if roles.is_empty() {
                    old.suggested_roles.clone()
                } else {
                    roles
                };
                (
                    "UPDATE users SET display_name = $1, group_key = $2, year_group = $3, \
                     class_name = $4, email = $5, staff_code = $6, suggested_roles = $7, \
                     disabled = $8, source = 'import', date_of_birth = $9 WHERE id = $10",
                    vec![
                        Arg::Str(&p.display_name),
                        Arg::Str(&p.group_key),
                        opt_owned(keep(&p.year_group, &old.year_group)),
                        opt_owned(keep(&p.class_name, &old.class_name)),
                        opt_owned(keep(&p.email, &old.email)),
                        opt_owned(keep(&p.staff_code, &old.staff_code)),
                        Arg::Owned(roles),
                        Arg::Bool(false),
                        opt_owned(
                            p.date_of_birth
                                .map(stored_date)
                                .or_else(|| old.date_of_birth.clone()),
                        ),
                        Arg::I64(*id),
                    ],
                )
            }
            Step::Disable(id) => (
                "UPDATE users SET disabled = $1 WHERE id = $2",
                vec![Arg::Bool(true), Arg::I64(*id)],
            ),
            Step::CreateClass(c) => (
                "INSERT INTO classes (school_id, name, year_group, group_key, teacher, \
                 created_at_us, updated_at_us) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                vec![
                    Arg::I64(school.0),
                    Arg::Str(&c.name),
                    Arg::OptStr(c.year_group.as_deref()),
                    Arg::OptStr(c.group_key.as_deref()),
                    Arg::OptStr(c.teacher.as_deref()),
                    Arg::I64(now),
                ],
            ),
            Step::UpdateClass { id, class: c, old } => (
                "UPDATE classes SET year_group = $1, group_key = $2, teacher = $3, \
                 updated_at_us = $4 WHERE id = $5",
                vec![
                    opt_owned(keep(&c.year_group, &old.year_group)),
                    opt_owned(keep(&c.group_key, &old.group_key)),
                    opt_owned(keep(&c.teacher, &old.teacher)),
                    Arg::I64(now),
                    Arg::I64(*id),
                ],
            ),
        }
    }
}

/// A date as the `date_of_birth` column keeps it: `YYYY-MM-DD` (years 1 to 9999, checked by
/// `validate_batch`).
fn stored_date(date: jiff::civil::Date) -> String {
    date.to_string()
}

fn opt_owned(value: Option<String>) -> Arg<'static> {
    match value {
        Some(v) => Arg::Owned(v),
        None => Arg::OptStr(None),
    }
}

impl fmt::Display for ImportPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} new, {} changed ({} enabled again), {} unchanged, {} to disable",
            self.created_count,
            self.updated_count,
            self.enabled_count,
            self.unchanged_count,
            self.disabled_count
        )
    }
}
