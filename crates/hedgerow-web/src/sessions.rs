//! Web sessions kept in Hedgerow's store (SQLite or PostgreSQL), so every gateway node of a
//! trust sees the same sessions and a restart signs nobody out.

use async_trait::async_trait;
use hedgerow_store::Store;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result};

#[derive(Clone)]
pub struct StoreSessions {
    store: Store,
}

impl std::fmt::Debug for StoreSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSessions")
    }
}

impl StoreSessions {
    pub fn new(store: Store) -> StoreSessions {
        StoreSessions { store }
    }
}

fn expiry(record: &Record) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_second(record.expiry_date.unix_timestamp())
        .map_err(|e| Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for StoreSessions {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let data = serde_json::to_vec(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        // A new random id on the (vanishingly rare) collision, never someone else's session.
        loop {
            let created = self
                .store
                .session_create(&record.id.to_string(), &data, expiry(record)?)
                .await
                .map_err(|e| Error::Backend(e.to_string()))?;
            if created {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_vec(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        self.store
            .session_save(&record.id.to_string(), &data, expiry(record)?)
            .await
            .map_err(|e| Error::Backend(e.to_string()))
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let Some((data, expires)) = self
            .store
            .session_load(&id.to_string())
            .await
            .map_err(|e| Error::Backend(e.to_string()))?
        else {
            return Ok(None);
        };
        let data = serde_json::from_slice(&data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(expires.as_second())
            .map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.store
            .session_delete(&id.to_string())
            .await
            .map_err(|e| Error::Backend(e.to_string()))
    }
}
