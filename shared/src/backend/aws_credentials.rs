//! AWS credentials: one chain for every AWS client of the crate. DynamoDB reads them through
//! the AWS SDK; the S3 store (object_store) gets the same SDK chain through
//! [`SdkCredentials`] when nothing in its own configuration names credentials, so a profile
//! (`~/.aws/credentials`, `AWS_PROFILE`) works for S3 as it does for boto3 in cogeo-mosaic.
//! object_store alone reads no profile file. Hand-written because object_store's
//! `CredentialProvider` and the SDK's `ProvideCredentials` have no adapter in either crate.

use aws_config::imds::client::error::ImdsError;
use aws_credential_types::provider::error::CredentialsError;

use crate::error::find_source;

/// The sources the AWS SDK's default credentials chain reads (`aws_config`): the
/// environment (keys, web identity, container endpoints), profile files, instance metadata.
pub(crate) const TRIED: &str = "env, profile, instance metadata";

/// Whether `e` says that no source of the chain had credentials: every provider answered
/// "not here", or the last resort, the instance metadata service, failed (refused, an error
/// answer, turned off) after the others had none.
pub(crate) fn none_found(e: &CredentialsError) -> bool {
    match e {
        CredentialsError::CredentialsNotLoaded(_) => true,
        CredentialsError::ProviderError(_) => find_source::<ImdsError>(e).is_some(),
        _ => false,
    }
}

#[cfg(feature = "s3")]
pub(crate) use s3::{SdkCredentials, names_credentials};

#[cfg(feature = "s3")]
mod s3 {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use aws_config::default_provider::credentials::DefaultCredentialsChain;
    use aws_credential_types::provider::ProvideCredentials;
    use object_store::CredentialProvider;
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K, AwsCredential};
    use tokio::sync::{Mutex, OnceCell};

    use super::{TRIED, none_found};
    use crate::error::{BoxError, NoAwsCredentials};

    /// Whether `b`'s own configuration names credentials (or unsigned requests), which
    /// object_store then uses before anything else (`AmazonS3Builder::build`'s order).
    pub(crate) fn names_credentials(b: &AmazonS3Builder) -> bool {
        let set = |k: K| b.get_config_value(&k).is_some_and(|v| !v.trim().is_empty());
        let on = |k: K| {
            b.get_config_value(&k)
                .and_then(|v| crate::cache::parse_bool(&v))
                .unwrap_or(false)
        };
        set(K::AccessKeyId)
            || set(K::SecretAccessKey)
            || (set(K::WebIdentityTokenFile) && set(K::RoleArn))
            || set(K::ContainerCredentialsRelativeUri)
            || (set(K::ContainerCredentialsFullUri) && set(K::ContainerAuthorizationTokenFile))
            || on(K::SkipSignature)
    }

    /// Credentials kept this long before their expiry are renewed.
    const RENEW_BEFORE: Duration = Duration::from_secs(300);

    /// The AWS SDK's default credentials chain as object_store's S3 credential provider,
    /// loaded on first use, its answer kept until shortly before it expires. No credentials
    /// anywhere fails with the typed [`NoAwsCredentials`] (`Error::Auth` in `store_error`);
    /// another credentials failure (a broken profile) keeps the SDK's typed error.
    #[derive(Debug, Default)]
    pub(crate) struct SdkCredentials {
        chain: OnceCell<DefaultCredentialsChain>,
        current: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
    }

    #[async_trait::async_trait]
    impl CredentialProvider for SdkCredentials {
        type Credential = AwsCredential;

        async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
            let mut current = self.current.lock().await;
            if let Some((credential, expiry)) = current.as_ref()
                && expiry.is_none_or(|t| t > SystemTime::now() + RENEW_BEFORE)
            {
                return Ok(credential.clone());
            }
            let chain = self
                .chain
                .get_or_init(|| DefaultCredentialsChain::builder().build())
                .await;
            let found = chain.provide_credentials().await.map_err(|e| {
                let source: BoxError = if none_found(&e) {
                    Box::new(NoAwsCredentials::new(TRIED, Some(Box::new(e))))
                } else {
                    Box::new(e)
                };
                object_store::Error::Generic {
                    store: "S3",
                    source,
                }
            })?;
            let credential = Arc::new(AwsCredential {
                key_id: found.access_key_id().to_string(),
                secret_key: found.secret_access_key().to_string(),
                token: found.session_token().map(str::to_string),
            });
            *current = Some((credential.clone(), found.expiry()));
            Ok(credential)
        }
    }
}
