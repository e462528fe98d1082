//! The rules of a school's safeguarding records (online-safety concerns and incidents), apart
//! from where they are kept: what kinds of incident and action there are, the guided
//! procedures, who may read a record, when a record falls due for review, why an uploaded
//! image is refused, and the formats of a transfer bundle and a subject-access export.
