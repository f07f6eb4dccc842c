//! The client credentials grant (OAuth 2.1 section 4.2; the MCP extension SEP-1046): a client
//! that signs in on its own, with no person and no browser.
//!
//! The client authenticates with a secret (`client_secret_basic`, or `client_secret_post` where
//! that is all the server takes) or with an RFC 7523 assertion signed by its private key
//! (`private_key_jwt`, [`super::assertion`]). The secret or the key goes into the vault with
//! the client registration at the issuer ([`RegistrationKind::Configured`],
//! [`Grant::ClientCredentials`]), never into a file. The grant issues no refresh token: the
//! keeper renews by running the grant again with what the vault holds ([`renew`]), on the
//! same refresh path, under the same lock, as a refresh token.

use std::time::SystemTime;

use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};

use super::assertion::{ASSERTION_TYPE, SigningKey};
use super::discovery::Found;
use super::keeper::{Failure, classify, from_response, send};
use super::{ClientCredentials, Progress, SignInError, SignInRequest, Stage};
use crate::remote::ProbeAuth;
use crate::secret::Secret;
use crate::vault::{ClientRegistration, Grant, RegistrationKind, TokenSet, Vault, unix_seconds};

/// How the client proves itself at the token endpoint.
enum Auth {
    /// A secret, in HTTP Basic or (`post`) in the form.
    Secret { secret: Secret, post: bool },
    /// An RFC 7523 assertion signed with this key, for this audience (the issuer).
    Key { key: SigningKey, audience: String },
}

/// The token endpoint authentication method for a client with `credentials` at a server
/// whose metadata is `metadata`.
fn auth_method(
    metadata: &rmcp::transport::auth::AuthorizationMetadata,
    credentials: &ClientCredentials,
) -> &'static str {
    if credentials.private_key.is_some() {
        "private_key_jwt"
    } else {
        super::flow::auth_method(metadata, true)
    }
}

/// How `registration` authenticates.
fn auth_of(registration: &ClientRegistration) -> Result<Auth, Failure> {
    if let Some(pem) = &registration.private_key {
        let key = SigningKey::from_pem(pem.expose(), registration.signing_alg.as_deref())
            .map_err(|e| Failure::Definitive(e.to_string()))?;
        return Ok(Auth::Key {
            key,
            audience: registration.issuer.clone(),
        });
    }
    match &registration.client_secret {
        Some(secret) => Ok(Auth::Secret {
            secret: secret.clone(),
            post: registration.token_endpoint_auth_method.as_deref() == Some("client_secret_post"),
        }),
        None => Err(Failure::Definitive(format!(
            "no client secret or private key is stored for client `{}` at {}",
            registration.client_id, registration.issuer
        ))),
    }
}

/// One client credentials token request.
async fn token_request(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    auth: &Auth,
    scopes: &[String],
    resource: &str,
) -> Result<BasicTokenResponse, Failure> {
    let token_url = TokenUrl::new(token_endpoint.to_owned())
        .map_err(|e| Failure::Definitive(format!("bad token endpoint: {e}")))?;
    let mut client = BasicClient::new(ClientId::new(client_id.to_owned())).set_token_uri(token_url);
    let mut assertion = None;
    match auth {
        Auth::Secret { secret, post } => {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
            if *post {
                client = client.set_auth_type(AuthType::RequestBody);
            }
        }
        Auth::Key { key, audience } => {
            assertion = Some(
                key.assertion(client_id, audience, SystemTime::now())
                    .map_err(|e| Failure::Definitive(e.to_string()))?,
            );
        }
    }
    let http = http.clone();
    let sender = move |request| send(http.clone(), request);
    let mut exchange = client
        .exchange_client_credentials()
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .add_extra_param("resource", resource.to_owned());
    if let Some(assertion) = assertion {
        exchange = exchange
            .add_extra_param("client_assertion_type", ASSERTION_TYPE)
            .add_extra_param("client_assertion", assertion);
    }
    exchange
        .request_async(&sender)
        .await
        .map_err(|err| classify(&err))
}

/// The token set a response makes, for the tokens it renews or the first ones.
fn token_set(response: &BasicTokenResponse, template: TokenSet, asked: &[String]) -> TokenSet {
    let refresh_token = response.refresh_token().map(|t| Secret::new(t.secret()));
    let template = TokenSet {
        grant: Grant::ClientCredentials,
        ..template
    };
    from_response(response, template, refresh_token, asked)
}

/// New tokens for `tokens`, by running the grant again as `registration` (the keeper's
/// refresh path).
pub(super) async fn renew(
    http: &reqwest::Client,
    tokens: &TokenSet,
    registration: Option<&ClientRegistration>,
) -> Result<TokenSet, Failure> {
    let registration = registration.ok_or_else(|| {
        Failure::Definitive(format!(
            "no client credentials are stored for client `{}` at {}",
            tokens.client_id, tokens.issuer
        ))
    })?;
    let auth = auth_of(registration)?;
    let response = token_request(
        http,
        &tokens.token_endpoint,
        &tokens.client_id,
        &auth,
        &tokens.scopes,
        &tokens.resource,
    )
    .await?;
    Ok(token_set(&response, tokens.clone(), &tokens.scopes))
}

/// Sign in with the client credentials grant at the authorization server `found`: `client`
/// is the one the user gave, else the one configured at the issuer (`stored`).
pub(super) async fn sign_in(
    request: &SignInRequest,
    vault: &Vault,
    report: &(dyn Fn(Progress) + Send + Sync),
    found: &Found,
    stored: Option<ClientRegistration>,
) -> Result<TokenSet, SignInError> {
    let issuer = found.issuer.clone();
    let metadata = &found.metadata;
    let advertised = metadata
        .additional_fields
        .get("grant_types_supported")
        .and_then(|v| v.as_array());
    if let Some(grants) = advertised
        && !grants
            .iter()
            .any(|g| g.as_str() == Some("client_credentials"))
    {
        return Err(SignInError::GrantUnsupported { issuer });
    }
    let credentials = request
        .client
        .clone()
        .or_else(|| {
            stored
                .filter(|r| {
                    r.kind == RegistrationKind::Configured && r.grant == Grant::ClientCredentials
                })
                .map(|r| ClientCredentials {
                    id: r.client_id,
                    secret: r.client_secret,
                    private_key: r.private_key,
                    signing_alg: r.signing_alg,
                })
        })
        .filter(|c| c.secret.is_some() || c.private_key.is_some())
        .ok_or_else(|| SignInError::NoClientCredentials {
            issuer: issuer.clone(),
        })?;
    let registration = ClientRegistration {
        issuer: issuer.clone(),
        kind: RegistrationKind::Configured,
        client_id: credentials.id.clone(),
        client_secret: credentials.secret.clone(),
        client_secret_expires_at: None,
        registration_access_token: None,
        registration_client_uri: None,
        redirect_uris: Vec::new(),
        token_endpoint_auth_method: Some(auth_method(metadata, &credentials).to_owned()),
        registered_at: unix_seconds(SystemTime::now()),
        grant: Grant::ClientCredentials,
        private_key: credentials.private_key.clone(),
        signing_alg: credentials.signing_alg.clone(),
    };
    // A key that cannot sign is the user's to fix; say so before any request.
    if let Some(pem) = &credentials.private_key {
        SigningKey::from_pem(pem.expose(), credentials.signing_alg.as_deref())?;
    }
    let auth = auth_of(&registration).map_err(|f| SignInError::Exchange(f.into_message()))?;
    let scopes = if request.scopes.is_empty() {
        super::flow::challenge_scopes(request.challenge.as_deref())
    } else {
        request.scopes.clone()
    };

    report(Progress::new(
        Stage::Exchanging,
        format!(
            "Fetching a token at {issuer} as client `{}` ({})",
            credentials.id,
            registration
                .token_endpoint_auth_method
                .as_deref()
                .unwrap_or_default()
        ),
    ));
    let http = super::keeper::token_http();
    let response = token_request(
        &http,
        &metadata.token_endpoint,
        &credentials.id,
        &auth,
        &scopes,
        &request.url,
    )
    .await
    .map_err(|f| SignInError::Exchange(f.into_message()))?;
    let template = TokenSet {
        access_token: Secret::new(String::new()),
        token_type: "Bearer".into(),
        refresh_token: None,
        expires_at: None,
        obtained_at: 0,
        scopes: Vec::new(),
        issuer: issuer.clone(),
        client_id: credentials.id.clone(),
        resource: request.url.clone(),
        token_endpoint: metadata.token_endpoint.clone(),
        revocation_endpoint: metadata
            .additional_fields
            .get("revocation_endpoint")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        grant: Grant::ClientCredentials,
    };
    let tokens = token_set(&response, template, &scopes);

    let url = request.url.clone();
    report(Progress::new(
        Stage::Verifying,
        format!("Checking the new token with {url}"),
    ));
    let probed = crate::remote::probe(&url, ProbeAuth::Bearer(&tokens.access_token)).await;
    super::flow::token_taken(probed, url, &scopes)?;
    vault.store_client_registration(&registration).await?;
    vault.store_tokens(&request.server, &tokens).await?;
    report(Progress::new(
        Stage::Done,
        format!(
            "Signed in to {} with the client's credentials",
            request.server
        ),
    ));
    Ok(tokens)
}
