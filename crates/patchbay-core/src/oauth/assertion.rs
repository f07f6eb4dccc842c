//! RFC 7523 client assertions: the signed JWT a `private_key_jwt` client authenticates with at
//! the token endpoint (RFC 7523 section 2.2, OpenID Connect Core section 9).
//!
//! Claims: `iss` and `sub` are the client id, `aud` the authorization server's issuer
//! identifier (what draft-ietf-oauth-rfc7523bis requires, and what the MCP client credentials
//! extension's authorization servers check), `iat` now, `exp` [`LIFETIME`] later, `jti` 128
//! random bits, so an assertion is good for one request and never replayed.
//!
//! Keys come as PEM: PKCS#8 (`PRIVATE KEY`: EC P-256 / P-384, RSA, Ed25519), SEC1
//! (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`); an encrypted key is refused. The
//! algorithm follows from the key (ES256, ES384, RS256, EdDSA) unless one is named; a named
//! one must fit the key. Signing is aws-lc-rs's, rustls's own provider.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::vault::unix_seconds;

/// How long an assertion is valid.
pub const LIFETIME: Duration = Duration::from_secs(60);

/// `client_assertion_type` for a JWT (RFC 7523 section 2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A JWS algorithm a client assertion can be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every algorithm, by its JWS name.
    pub const ALL: [Alg; 9] = [
        Alg::Es256,
        Alg::Es384,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::EdDsa,
    ];

    /// Its JWS name (`alg`).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm of a JWS name (case-insensitive).
    pub fn parse(name: &str) -> Result<Self, AssertionError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| AssertionError::UnknownAlg(name.to_owned()))
    }

    fn rsa_encoding(self) -> Option<&'static dyn signature::RsaEncoding> {
        Some(match self {
            Alg::Rs256 => &signature::RSA_PKCS1_SHA256,
            Alg::Rs384 => &signature::RSA_PKCS1_SHA384,
            Alg::Rs512 => &signature::RSA_PKCS1_SHA512,
            Alg::Ps256 => &signature::RSA_PSS_SHA256,
            Alg::Ps384 => &signature::RSA_PSS_SHA384,
            Alg::Ps512 => &signature::RSA_PSS_SHA512,
            _ => return None,
        })
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key cannot sign assertions. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Not a PEM private key.
    #[error("the private key is not PEM (`-----BEGIN PRIVATE KEY-----` ...)")]
    NotPem,
    /// A passphrase-protected key.
    #[error(
        "the private key is encrypted; Patchbay needs it unencrypted (it keeps it in the keychain)"
    )]
    Encrypted,
    /// A PEM block of another kind.
    #[error("`{0}` is not a private key Patchbay can sign with")]
    Unsupported(String),
    /// The algorithm name is not one Patchbay signs with.
    #[error(
        "unknown signing algorithm `{0}` (one of ES256, ES384, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA)"
    )]
    UnknownAlg(String),
    /// The key does not fit the algorithm, or is damaged.
    #[error("the private key is not a valid {what} key{}", alg.map(|a| format!(" for {a}")).unwrap_or_default())]
    Rejected {
        /// The kind of key expected.
        what: &'static str,
        /// The algorithm asked for.
        alg: Option<Alg>,
    },
    /// Signing failed (or no randomness for `jti`).
    #[error("signing the client assertion failed")]
    Sign,
}

impl AssertionError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            AssertionError::Encrypted | AssertionError::Unsupported(_) => Some(
                "convert it to unencrypted PKCS#8: `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8.pem`"
                    .into(),
            ),
            AssertionError::Rejected { .. } => {
                Some("check --signing-alg against the key's type (EC: ES256/ES384, RSA: RS*/PS*, Ed25519: EdDSA)".into())
            }
            _ => None,
        }
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key that signs client assertions. Its `Debug` shows only the algorithm.
pub struct SigningKey {
    alg: Alg,
    pair: Pair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The label and DER of the first PEM block of `pem`.
fn pem_block(pem: &str) -> Result<(String, Vec<u8>), AssertionError> {
    let begin = pem.find("-----BEGIN ").ok_or(AssertionError::NotPem)?;
    let rest = &pem[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or(AssertionError::NotPem)?;
    let label = rest[..label_end].to_owned();
    let body = &rest[label_end + "-----".len()..];
    let end = body
        .find(&format!("-----END {label}-----"))
        .ok_or(AssertionError::NotPem)?;
    let body = &body[..end];
    if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
        return Err(AssertionError::Encrypted);
    }
    let text: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(text.as_bytes())
        .map_err(|_| AssertionError::NotPem)?;
    Ok((label, der))
}

impl SigningKey {
    /// The key in `pem`, signing with `alg` (`None`: the key's usual algorithm).
    pub fn from_pem(pem: &str, alg: Option<&str>) -> Result<Self, AssertionError> {
        let alg = alg.map(Alg::parse).transpose()?;
        let (label, der) = pem_block(pem)?;
        let ec = |alg: Alg, der: &[u8]| {
            let algorithm = match alg {
                Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                _ => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            };
            EcdsaKeyPair::from_private_key_der(algorithm, der)
                .map(|pair| Self {
                    alg,
                    pair: Pair::Ec(pair),
                })
                .ok()
        };
        let rejected = |what| AssertionError::Rejected { what, alg };
        match label.as_str() {
            "ENCRYPTED PRIVATE KEY" => Err(AssertionError::Encrypted),
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                let rsa = |der: &[u8]| {
                    if label == "RSA PRIVATE KEY" {
                        RsaKeyPair::from_der(der).ok()
                    } else {
                        RsaKeyPair::from_pkcs8(der).ok()
                    }
                };
                match alg {
                    Some(a @ (Alg::Es256 | Alg::Es384)) => ec(a, &der).ok_or(rejected("EC")),
                    Some(Alg::EdDsa) => Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                        .map(|pair| Self {
                            alg: Alg::EdDsa,
                            pair: Pair::Ed(pair),
                        })
                        .map_err(|_| rejected("Ed25519")),
                    Some(a) => rsa(&der)
                        .map(|pair| Self {
                            alg: a,
                            pair: Pair::Rsa(pair),
                        })
                        .ok_or(rejected("RSA")),
                    None => ec(Alg::Es256, &der)
                        .or_else(|| ec(Alg::Es384, &der))
                        .or_else(|| {
                            rsa(&der).map(|pair| Self {
                                alg: Alg::Rs256,
                                pair: Pair::Rsa(pair),
                            })
                        })
                        .or_else(|| {
                            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                                .ok()
                                .map(|pair| Self {
                                    alg: Alg::EdDsa,
                                    pair: Pair::Ed(pair),
                                })
                        })
                        .ok_or(rejected("EC, RSA or Ed25519")),
                }
            }
            other => Err(AssertionError::Unsupported(other.to_owned())),
        }
    }

    /// The algorithm it signs with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AssertionError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| AssertionError::Sign),
            Pair::Rsa(pair) => {
                let encoding = self.alg.rsa_encoding().ok_or(AssertionError::Sign)?;
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, message, &mut signature)
                    .map_err(|_| AssertionError::Sign)?;
                Ok(signature)
            }
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// A client assertion for `client_id` at the authorization server `audience` (its issuer),
    /// issued at `now`.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: SystemTime,
    ) -> Result<String, AssertionError> {
        let iat = unix_seconds(now);
        let jti = crate::secret::random_hex(16).map_err(|_| AssertionError::Sign)?;
        let header = serde_json::json!({"alg": self.alg.name(), "typ": "JWT"});
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": iat,
            "exp": iat + LIFETIME.as_secs(),
            "jti": jti,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign(signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{KeyPair, UnparsedPublicKey};

    use super::*;

    fn pem(label: &str, der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// The JWT's header and claims, after checking its signature with `verify`.
    fn open(
        jwt: &str,
        verify: impl Fn(&[u8], &[u8]) -> bool,
    ) -> (serde_json::Value, serde_json::Value) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "a JWS in compact form: {jwt}");
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert!(
            verify(signed.as_bytes(), &signature),
            "the signature verifies with the public key"
        );
        let json = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        (json(parts[0]), json(parts[1]))
    }

    #[test]
    fn an_es256_assertion_carries_the_rfc_7523_claims_and_verifies() {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        let public =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap()
                .public_key()
                .as_ref()
                .to_vec();
        let key = SigningKey::from_pem(&pem("PRIVATE KEY", pkcs8.as_ref()), None).unwrap();
        assert_eq!(key.alg(), Alg::Es256, "a P-256 key signs ES256 by default");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let jwt = key
            .assertion("my-client", "https://as.example.com", now)
            .unwrap();
        let verifier = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &public);
        let (header, claims) = open(&jwt, |m, s| verifier.verify(m, s).is_ok());
        assert_eq!(header["alg"], "ES256");
        assert_eq!(claims["iss"], "my-client", "iss is the client id");
        assert_eq!(claims["sub"], "my-client", "sub is the client id");
        assert_eq!(
            claims["aud"], "https://as.example.com",
            "aud is the authorization server"
        );
        assert_eq!(claims["iat"], 1_900_000_000);
        assert_eq!(claims["exp"], 1_900_000_060, "valid for a minute");
        let jti = claims["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 32, "128 random bits");

        let again = key
            .assertion("my-client", "https://as.example.com", now)
            .unwrap();
        let (_, claims) = open(&again, |m, s| verifier.verify(m, s).is_ok());
        assert_ne!(claims["jti"], jti, "every assertion has a fresh jti");
        assert!(
            !format!("{key:?}").contains(&pem("PRIVATE KEY", pkcs8.as_ref())[30..60]),
            "Debug shows no key material"
        );
    }

    #[test]
    fn an_rsa_key_signs_rs256_and_ps256() {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let text = pem("PRIVATE KEY", der.as_ref());
        let public = pair.public_key().as_ref().to_vec();
        for (alg, verification) in [
            (
                None,
                &signature::RSA_PKCS1_2048_8192_SHA256 as &dyn signature::VerificationAlgorithm,
            ),
            (Some("PS256"), &signature::RSA_PSS_2048_8192_SHA256),
        ] {
            let key = SigningKey::from_pem(&text, alg).unwrap();
            let jwt = key.assertion("c", "https://as", SystemTime::now()).unwrap();
            let verifier = UnparsedPublicKey::new(verification, &public);
            let (header, _) = open(&jwt, |m, s| verifier.verify(m, s).is_ok());
            assert_eq!(header["alg"], alg.unwrap_or("RS256"));
        }
    }

    #[test]
    fn keys_that_cannot_sign_are_refused_with_a_reason() {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        let ec = pem("PRIVATE KEY", pkcs8.as_ref());
        assert!(matches!(
            SigningKey::from_pem(&ec, Some("RS256")),
            Err(AssertionError::Rejected { what: "RSA", .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(&ec, Some("ES384")),
            Err(AssertionError::Rejected { what: "EC", .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(&ec, Some("HS256")),
            Err(AssertionError::UnknownAlg(_))
        ));
        assert!(matches!(
            SigningKey::from_pem(&pem("ENCRYPTED PRIVATE KEY", b"x"), None),
            Err(AssertionError::Encrypted)
        ));
        assert!(matches!(
            SigningKey::from_pem(&pem("CERTIFICATE", b"x"), None),
            Err(AssertionError::Unsupported(_))
        ));
        assert!(matches!(
            SigningKey::from_pem("not a key", None),
            Err(AssertionError::NotPem)
        ));
        assert_eq!(Alg::parse("es256").unwrap(), Alg::Es256);
    }
}
