//! The conditional edits of one quadkey's asset list, written once in DynamoDB's expression
//! language and sent two ways: as a plain `UpdateItem`/`DeleteItem` (the unclaimed
//! [`crate::backend::TileIndex`] edits, `index.rs`) and as a transaction item beside the
//! claim check of an event (`assets.rs`). The SDK's request builders and transaction-item
//! builders are different types, so the expressions live here and each side only sends them.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};

use super::DynamoDbWriter;
use crate::backend::Position;
use crate::{Error, Result};

/// `builder` (a request's or a transaction item's: they share these method names, not a
/// trait) with the table, `quadkey`'s key and `edit`'s condition, names and values.
macro_rules! conditioned {
    ($builder:expr, $writer:expr, $quadkey:expr, $edit:expr) => {
        $builder
            .table_name(&$writer.table)
            .set_key(Some($writer.key($quadkey)))
            .condition_expression($edit.condition)
            .set_expression_attribute_names(Some(ListEdit::names()))
            .set_expression_attribute_values(Some($edit.values))
    };
}

/// One conditional edit of a quadkey's `assets` list.
pub(super) struct ListEdit {
    /// `None`: delete the item.
    update: Option<&'static str>,
    condition: String,
    values: HashMap<String, AttributeValue>,
}

fn list(assets: &[String]) -> AttributeValue {
    AttributeValue::L(assets.iter().cloned().map(AttributeValue::S).collect())
}

impl ListEdit {
    /// Appends `assets` at `at` unless the list holds any of them already.
    pub(super) fn append_if_absent(assets: &[String], at: Position) -> Self {
        let update = match at {
            Position::First => "SET #a = list_append(:new, if_not_exists(#a, :empty))",
            Position::Last => "SET #a = list_append(if_not_exists(#a, :empty), :new)",
        };
        let mut values = HashMap::from([
            (":new".to_string(), list(assets)),
            (":empty".to_string(), AttributeValue::L(Vec::new())),
        ]);
        let mut absent = Vec::with_capacity(assets.len());
        for (i, a) in assets.iter().enumerate() {
            absent.push(format!("NOT contains(#a, :v{i})"));
            values.insert(format!(":v{i}"), AttributeValue::S(a.clone()));
        }
        ListEdit {
            update: Some(update),
            condition: format!("attribute_not_exists(#a) OR ({})", absent.join(" AND ")),
            values,
        }
    }

    /// Replaces the list by `new` if it still equals `old`; deletes the item when `new` is
    /// empty.
    pub(super) fn swap(old: &[String], new: &[String]) -> Self {
        let mut values = HashMap::from([(":old".to_string(), list(old))]);
        let update = if new.is_empty() {
            None
        } else {
            values.insert(":new".to_string(), list(new));
            Some("SET #a = :new")
        };
        ListEdit {
            update,
            condition: "#a = :old".into(),
            values,
        }
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([("#a".to_string(), "assets".to_string())])
    }
}

/// What sending a [`ListEdit`] as one request did.
pub(super) enum Sent {
    Written,
    /// Its condition failed: another writer changed the list first.
    ConditionFailed,
    /// Any other failure, typed, with the service's error code.
    Failed {
        code: Option<String>,
        error: Error,
    },
}

impl DynamoDbWriter {
    /// Sends `edit` of `quadkey`'s list as one `UpdateItem` or `DeleteItem`.
    pub(super) async fn send_list_edit(&self, quadkey: &str, edit: ListEdit) -> Sent {
        fn outcome<T, E>(writer: &DynamoDbWriter, sent: std::result::Result<T, SdkError<E>>) -> Sent
        where
            E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        {
            match sent {
                Ok(_) => Sent::Written,
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                    Sent::ConditionFailed
                }
                Err(e) => Sent::Failed {
                    code: e.code().map(str::to_string),
                    error: writer.sdk_error(e),
                },
            }
        }
        let client = self.client().await;
        match edit.update {
            Some(update) => {
                let sent = conditioned!(client.update_item(), self, quadkey, edit)
                    .update_expression(update)
                    .send()
                    .await;
                outcome(self, sent)
            }
            None => {
                let sent = conditioned!(client.delete_item(), self, quadkey, edit)
                    .send()
                    .await;
                outcome(self, sent)
            }
        }
    }

    /// `edit` of `quadkey`'s list as a transaction item.
    pub(super) fn list_edit_item(
        &self,
        quadkey: &str,
        edit: ListEdit,
    ) -> Result<TransactWriteItem> {
        let internal = |e: aws_sdk_dynamodb::error::BuildError| Error::Internal(e.to_string());
        Ok(match edit.update {
            Some(update) => {
                let update = conditioned!(Update::builder(), self, quadkey, edit)
                    .update_expression(update)
                    .build()
                    .map_err(internal)?;
                TransactWriteItem::builder().update(update).build()
            }
            None => {
                let delete = conditioned!(Delete::builder(), self, quadkey, edit)
                    .build()
                    .map_err(internal)?;
                TransactWriteItem::builder().delete(delete).build()
            }
        })
    }
}
