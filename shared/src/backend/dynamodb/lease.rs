//! The write lease of a mosaic: whole writes and deletes of one mosaic id never interleave.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoDbWriter, LEASE_QUADKEY, LEASE_SECONDS};
use crate::{Error, Result};

impl DynamoDbWriter {
    /// Takes the mosaic's write lease: an item at sort key [`LEASE_QUADKEY`] holding a token
    /// and an expiry, put only if absent or expired. Whole writes and deletes hold it, so two
    /// of them never interleave their items. `wait`: retry with backoff while another
    /// writer holds it; else a held lease is [`Error::AlreadyExists`] (someone is creating
    /// or replacing this mosaic). Returns the token.
    pub(super) async fn acquire_lease(&self, wait: bool) -> Result<String> {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        };
        let token = format!("{}-{}", std::process::id(), now().as_nanos());
        let mut attempt = 0;
        loop {
            let t = now().as_secs();
            let mut item = self.key(LEASE_QUADKEY);
            item.insert("owner".into(), AttributeValue::S(token.clone()));
            item.insert(
                "expires".into(),
                AttributeValue::N((t + LEASE_SECONDS).to_string()),
            );
            let sent = self
                .client()
                .await
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#m) OR #e < :now")
                .expression_attribute_names("#m", "mosaicId")
                .expression_attribute_names("#e", "expires")
                .expression_attribute_values(":now", AttributeValue::N(t.to_string()))
                .send()
                .await;
            if self.unless_conflict(sent)?.is_some() {
                return Ok(token);
            }
            if !wait {
                return Err(Error::AlreadyExists {
                    uri: self.uri.clone(),
                });
            }
            attempt += 1;
            self.backoff(attempt, "waiting for another writer of this mosaic")
                .await?;
        }
    }

    /// Gives the lease back (if it is still ours: an expired lease may have been taken).
    pub(super) async fn release_lease(&self, token: &str) {
        let sent = self
            .client()
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(LEASE_QUADKEY)))
            .condition_expression("#o = :token")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":token", AttributeValue::S(token.to_string()))
            .send()
            .await;
        if let Err(e) = self.unless_conflict(sent) {
            // The lease expires by itself; the write's own outcome is what matters.
            tracing::warn!("releasing the write lease of {}: {e}", self.uri);
        }
    }
}
