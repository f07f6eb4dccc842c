//! The signature `mcpb sign` appends to a bundle, verified.
//!
//! The block is `MCPB_SIG_V1`, a 4-byte little-endian length, that many bytes of DER PKCS#7
//! (CMS, RFC 5652) `SignedData`, detached, over the zip before the block, then `MCPB_SIG_END`.
//! Verification: each signer's digest of the zip equals its signed `messageDigest` attribute,
//! and its signature over those attributes (or over the zip, without them) verifies under the
//! key of the certificate the block carries for it (RSA PKCS#1 v1.5, ECDSA P-256/P-384,
//! Ed25519; SHA-256/384/512, through `aws-lc-rs`). A block that does not parse, or uses an
//! algorithm not listed, is refused, as is one that does not match.
//!
//! What is not done: no certificate chain is checked against the system's trusted
//! certificates, and validity dates are not checked. So a good signature is reported as
//! "signed by" the certificate's subject, and as self-signed or issued by its issuer, never
//! as trusted: anyone can make a certificate with any name.
//!
//! The DER is read by the small reader here: single-byte tags, definite lengths, the raw bytes
//! of each element kept (the signed attributes are verified as sent, not re-encoded).

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

/// What `mcpb sign` writes before the PKCS#7 block.
pub const HEADER: &[u8] = b"MCPB_SIG_V1";
/// What `mcpb sign` writes after it.
pub const FOOTER: &[u8] = b"MCPB_SIG_END";

/// A signer whose signature matched: its certificate's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The certificate's subject (`CN=..., O=...`).
    pub subject: String,
    /// Its issuer when it is not self-signed; `None` when it is.
    pub issuer: Option<String>,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.issuer {
            None => write!(f, "signed by {} (self-signed)", self.subject),
            Some(issuer) => write!(
                f,
                "signed by {}, issued by {} (certificate chain not checked)",
                self.subject, issuer
            ),
        }
    }
}

/// Why a signature block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The block or its PKCS#7 does not parse.
    #[error("the bundle's signature block is malformed ({0}); refused")]
    Malformed(&'static str),
    /// It uses an algorithm not verified here.
    #[error("the bundle's signature uses {0}, which Patchbay cannot verify; refused")]
    Unsupported(&'static str),
    /// The signature does not match the bundle's content.
    #[error(
        "the bundle's signature does not match its content (changed after it was signed); refused"
    )]
    Mismatch,
}

/// The zip part of `bytes` and the PKCS#7 block after it, when a block closes `bytes`
/// (`None`: unsigned). The block starts at the last header whose length fits exactly (a
/// header's bytes inside the PKCS#7 are passed over); none fitting is malformed.
pub fn split(bytes: &[u8]) -> Result<(&[u8], Option<&[u8]>), SignatureError> {
    let Some(before) = bytes.strip_suffix(FOOTER) else {
        return Ok((bytes, None));
    };
    let mut headers = memchr::memmem::rfind_iter(before, HEADER).peekable();
    if headers.peek().is_none() {
        return Ok((bytes, None));
    }
    for at in headers {
        let fits = (before[at + HEADER.len()..].split_first_chunk::<4>())
            .filter(|(len, der)| u32::from_le_bytes(**len) as usize == der.len());
        if let Some((_, der)) = fits {
            return Ok((&bytes[..at], Some(der)));
        }
    }
    Err(SignatureError::Malformed("its length does not fit"))
}

/// Who signed `content`, from the DER PKCS#7 `block`: every signer's signature must match.
pub fn verify(content: &[u8], block: &[u8]) -> Result<Signer, SignatureError> {
    let bad = SignatureError::Malformed;
    let mut top = Reader::new(block);
    let info = top.expect(SEQUENCE, "not a PKCS#7 block")?;
    top.end("bytes after the PKCS#7 block")?;
    let mut info = Reader::new(info.body);
    if info.expect(OID, "no content type")?.body != SIGNED_DATA {
        return Err(bad("not PKCS#7 signed data"));
    }
    let wrapped = info.expect(0xA0, "no signed data")?;
    let mut signed = Reader::new(
        Reader::new(wrapped.body)
            .expect(SEQUENCE, "no signed data")?
            .body,
    );
    signed.expect(INTEGER, "no version")?;
    signed.expect(SET, "no digest algorithms")?;
    let mut encapsulated = Reader::new(signed.expect(SEQUENCE, "no content info")?.body);
    encapsulated.expect(OID, "no content type")?;
    if !encapsulated.done() {
        return Err(bad("the content is inside it, not detached"));
    }
    let mut certificates = Vec::new();
    let mut next = signed.next("no signer infos")?;
    if next.tag == 0xA0 {
        let mut list = Reader::new(next.body);
        while !list.done() {
            let element = list.next("a certificate")?;
            if element.tag == SEQUENCE {
                certificates.push(Certificate::read(element)?);
            }
        }
        next = signed.next("no signer infos")?;
    }
    if next.tag == 0xA1 {
        next = signed.next("no signer infos")?;
    }
    if next.tag != SET {
        return Err(bad("no signer infos"));
    }
    let mut signers = Reader::new(next.body);
    let mut first = None;
    while !signers.done() {
        let info = signers.expect(SEQUENCE, "a signer info")?;
        let certificate = check_signer(content, info.body, &certificates)?;
        first.get_or_insert(certificate);
    }
    let certificate = first.ok_or(bad("no signer"))?;
    Ok(Signer {
        subject: certificate.subject_name(),
        issuer: (!certificate.self_signed()).then(|| certificate.issuer_name()),
    })
}

/// One `SignerInfo` checked against `content`: the certificate it names.
fn check_signer<'a>(
    content: &[u8],
    info: &[u8],
    certificates: &'a [Certificate<'a>],
) -> Result<&'a Certificate<'a>, SignatureError> {
    let bad = SignatureError::Malformed;
    let mut info = Reader::new(info);
    info.expect(INTEGER, "no signer version")?;
    let sid = info.next("no signer identifier")?;
    if sid.tag != SEQUENCE {
        return Err(SignatureError::Unsupported(
            "a signer named by key identifier",
        ));
    }
    let mut sid = Reader::new(sid.body);
    let (issuer, serial) = (
        sid.expect(SEQUENCE, "no issuer")?,
        sid.expect(INTEGER, "no serial")?,
    );
    let certificate = (certificates.iter())
        .find(|c| c.issuer.raw == issuer.raw && c.serial == serial.body)
        .ok_or(bad("the signer's certificate is not in it"))?;
    let digest_algorithm = digest_of(Reader::new(info.expect(SEQUENCE, "no digest")?.body).oid()?)?;
    let mut next = info.next("no signature algorithm")?;
    let attributes = match next.tag {
        0xA0 => {
            let attributes = next;
            next = info.next("no signature algorithm")?;
            Some(attributes)
        }
        _ => None,
    };
    if next.tag != SEQUENCE {
        return Err(bad("no signature algorithm"));
    }
    let signature_algorithm = Reader::new(next.body).oid()?;
    let signature_value = info.expect(OCTET_STRING, "no signature")?.body;
    let computed = digest::digest(digest_algorithm, content);
    let message = match attributes {
        None => content.to_vec(),
        Some(attributes) => {
            if message_digest(attributes.body)? != computed.as_ref() {
                return Err(SignatureError::Mismatch);
            }
            // Signed as a SET OF, not with the [0] tag it is sent under (RFC 5652 5.4).
            let mut message = attributes.raw.to_vec();
            message[0] = SET;
            message
        }
    };
    let hash = match (signature_algorithm, hash_of_signature(signature_algorithm)) {
        (_, Some(hash)) => hash,
        (RSA_ENCRYPTION, None) => digest_algorithm,
        _ => {
            return Err(SignatureError::Unsupported(
                "a signature algorithm other than RSA PKCS#1 v1.5, ECDSA or Ed25519",
            ));
        }
    };
    let algorithm = verification(&certificate.key, hash)?;
    UnparsedPublicKey::new(algorithm, certificate.key.bits)
        .verify(&message, signature_value)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(certificate)
}

/// The `messageDigest` value among signed attributes.
fn message_digest(attributes: &[u8]) -> Result<&[u8], SignatureError> {
    let mut list = Reader::new(attributes);
    while !list.done() {
        let mut attribute = Reader::new(list.expect(SEQUENCE, "an attribute")?.body);
        if attribute.expect(OID, "an attribute type")?.body == MESSAGE_DIGEST {
            let mut values = Reader::new(attribute.expect(SET, "an attribute value")?.body);
            return Ok(values.expect(OCTET_STRING, "the message digest")?.body);
        }
    }
    Err(SignatureError::Malformed("no message digest attribute"))
}

/// One element: its tag, its whole encoding and its contents.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    tag: u8,
    raw: &'a [u8],
    body: &'a [u8],
}

/// DER elements one after another.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn done(&self) -> bool {
        self.rest.is_empty()
    }

    fn end(&self, what: &'static str) -> Result<(), SignatureError> {
        match self.done() {
            true => Ok(()),
            false => Err(SignatureError::Malformed(what)),
        }
    }

    /// The next element (single-byte tag, definite length).
    fn next(&mut self, what: &'static str) -> Result<Element<'a>, SignatureError> {
        let bad = || SignatureError::Malformed(what);
        let bytes = self.rest;
        let (&tag, after) = bytes.split_first().ok_or_else(bad)?;
        if tag & 0x1F == 0x1F {
            return Err(bad());
        }
        let (&first, after) = after.split_first().ok_or_else(bad)?;
        let (len, after) = match first {
            0..=0x7F => (usize::from(first), after),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7F);
                let (len, after) = (after.split_at_checked(n)).ok_or_else(bad)?;
                (
                    len.iter().fold(0usize, |l, b| (l << 8) | usize::from(*b)),
                    after,
                )
            }
            _ => return Err(bad()),
        };
        let body = after.get(..len).ok_or_else(bad)?;
        let header = bytes.len() - after.len();
        self.rest = &after[len..];
        Ok(Element {
            tag,
            raw: &bytes[..header + len],
            body,
        })
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<Element<'a>, SignatureError> {
        let element = self.next(what)?;
        match element.tag == tag {
            true => Ok(element),
            false => Err(SignatureError::Malformed(what)),
        }
    }

    /// An `AlgorithmIdentifier`'s OID (the reader over its contents).
    fn oid(&mut self) -> Result<&'a [u8], SignatureError> {
        Ok(self.expect(OID, "an algorithm")?.body)
    }
}

/// A public key: its algorithm, its curve when an EC key, its bits.
#[derive(Debug)]
struct Key<'a> {
    algorithm: &'a [u8],
    curve: Option<&'a [u8]>,
    bits: &'a [u8],
}

/// What the check reads of a certificate.
#[derive(Debug)]
struct Certificate<'a> {
    signed_part: &'a [u8],
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
    serial: &'a [u8],
    issuer: Element<'a>,
    subject: Element<'a>,
    key: Key<'a>,
}

impl<'a> Certificate<'a> {
    fn read(element: Element<'a>) -> Result<Self, SignatureError> {
        let mut outer = Reader::new(element.body);
        let tbs = outer.expect(SEQUENCE, "a certificate")?;
        let signature_algorithm =
            Reader::new(outer.expect(SEQUENCE, "a certificate")?.body).oid()?;
        let signature = bit_string(outer.expect(BIT_STRING, "a certificate's signature")?)?;
        let mut fields = Reader::new(tbs.body);
        let mut serial = fields.next("a certificate's serial")?;
        if serial.tag == 0xA0 {
            serial = fields.next("a certificate's serial")?;
        }
        if serial.tag != INTEGER {
            return Err(SignatureError::Malformed("a certificate's serial"));
        }
        fields.expect(SEQUENCE, "a certificate's algorithm")?;
        let issuer = fields.expect(SEQUENCE, "a certificate's issuer")?;
        fields.expect(SEQUENCE, "a certificate's validity")?;
        let subject = fields.expect(SEQUENCE, "a certificate's subject")?;
        let mut spki = Reader::new(fields.expect(SEQUENCE, "a certificate's key")?.body);
        let mut algorithm = Reader::new(spki.expect(SEQUENCE, "a key's algorithm")?.body);
        let key_algorithm = algorithm.oid()?;
        let curve = match algorithm.done() {
            true => None,
            false => Some(algorithm.next("a key's parameters")?).filter(|p| p.tag == OID),
        };
        let bits = bit_string(spki.expect(BIT_STRING, "a certificate's key")?)?;
        Ok(Self {
            signed_part: tbs.raw,
            signature_algorithm,
            signature,
            serial: serial.body,
            issuer,
            subject,
            key: Key {
                algorithm: key_algorithm,
                curve: curve.map(|c| c.body),
                bits,
            },
        })
    }

    /// Issued by itself: its issuer is its subject and its own key verifies it.
    fn self_signed(&self) -> bool {
        self.issuer.raw == self.subject.raw
            && hash_of_signature(self.signature_algorithm)
                .and_then(|hash| verification(&self.key, hash).ok())
                .is_some_and(|algorithm| {
                    UnparsedPublicKey::new(algorithm, self.key.bits)
                        .verify(self.signed_part, self.signature)
                        .is_ok()
                })
    }

    fn subject_name(&self) -> String {
        name(self.subject.body)
    }

    fn issuer_name(&self) -> String {
        name(self.issuer.body)
    }
}

/// A BIT STRING's bytes (no unused bits).
fn bit_string(element: Element<'_>) -> Result<&[u8], SignatureError> {
    match element.body.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(SignatureError::Malformed("a bit string")),
    }
}

/// A distinguished name shown by its common name and organization (`CN=..., O=...`), control
/// characters replaced so a name cannot forge lines of the consent.
fn name(body: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut sets = Reader::new(body);
    while let Ok(set) = sets.expect(SET, "a name") {
        let mut pairs = Reader::new(set.body);
        while let Ok(pair) = pairs.expect(SEQUENCE, "a name") {
            let mut pair = Reader::new(pair.body);
            let (Ok(kind), Ok(value)) = (pair.expect(OID, "a name"), pair.next("a name")) else {
                continue;
            };
            let label = match kind.body {
                COMMON_NAME => "CN",
                ORGANIZATION => "O",
                _ => continue,
            };
            let text = match value.tag {
                BMP_STRING => String::from_utf16_lossy(
                    &(value.body.chunks_exact(2))
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect::<Vec<_>>(),
                ),
                _ => String::from_utf8_lossy(value.body).into_owned(),
            };
            let text: String = text
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            parts.push(format!("{label}={text}"));
        }
    }
    match parts.is_empty() {
        true => "(a certificate without a common name)".into(),
        false => parts.join(", "),
    }
}

fn digest_of(oid: &[u8]) -> Result<&'static digest::Algorithm, SignatureError> {
    match oid {
        SHA256 => Ok(&digest::SHA256),
        SHA384 => Ok(&digest::SHA384),
        SHA512 => Ok(&digest::SHA512),
        _ => Err(SignatureError::Unsupported(
            "a digest other than SHA-256/384/512",
        )),
    }
}

/// The hash a signature algorithm names (`sha256WithRSAEncryption`); `None` for plain
/// `rsaEncryption` (the signer's digest algorithm then) and Ed25519.
fn hash_of_signature(oid: &[u8]) -> Option<&'static digest::Algorithm> {
    match oid {
        SHA256_RSA | ECDSA_SHA256 => Some(&digest::SHA256),
        SHA384_RSA | ECDSA_SHA384 => Some(&digest::SHA384),
        SHA512_RSA | ECDSA_SHA512 => Some(&digest::SHA512),
        ED25519 => Some(&digest::SHA512),
        _ => None,
    }
}

/// The verification for `key` with `hash`.
fn verification(
    key: &Key<'_>,
    hash: &'static digest::Algorithm,
) -> Result<&'static dyn VerificationAlgorithm, SignatureError> {
    let sha = |n: usize| hash.output_len() == n;
    if key.algorithm == RSA_ENCRYPTION && !(2048..=8192).contains(&rsa_bits(key.bits)?) {
        return Err(SignatureError::Unsupported(
            "an RSA key outside 2048 to 8192 bits",
        ));
    }
    Ok(match (key.algorithm, key.curve) {
        (RSA_ENCRYPTION, _) if sha(32) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (RSA_ENCRYPTION, _) if sha(48) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (RSA_ENCRYPTION, _) if sha(64) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (EC_PUBLIC_KEY, Some(P256)) if sha(32) => &signature::ECDSA_P256_SHA256_ASN1,
        (EC_PUBLIC_KEY, Some(P256)) if sha(48) => &signature::ECDSA_P256_SHA384_ASN1,
        (EC_PUBLIC_KEY, Some(P384)) if sha(32) => &signature::ECDSA_P384_SHA256_ASN1,
        (EC_PUBLIC_KEY, Some(P384)) if sha(48) => &signature::ECDSA_P384_SHA384_ASN1,
        (ED25519, _) => &signature::ED25519,
        _ => {
            return Err(SignatureError::Unsupported(
                "a key other than RSA, ECDSA P-256/P-384 or Ed25519",
            ));
        }
    })
}

/// The size of an RSA public key (`RSAPublicKey`): its modulus's bits.
fn rsa_bits(key: &[u8]) -> Result<usize, SignatureError> {
    let mut outer = Reader::new(key);
    let mut fields = Reader::new(outer.expect(SEQUENCE, "an RSA key")?.body);
    let modulus = fields.expect(INTEGER, "an RSA key's modulus")?.body;
    let modulus = match modulus.iter().position(|b| *b != 0) {
        Some(at) => &modulus[at..],
        None => return Err(SignatureError::Malformed("an RSA key's modulus")),
    };
    Ok(modulus.len() * 8 - modulus[0].leading_zeros() as usize)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BMP_STRING: u8 = 0x1E;

// Object identifiers, as their DER contents.
const SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const SHA256_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
const SHA384_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C];
const SHA512_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D];
const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
const ECDSA_SHA384: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03];
const ECDSA_SHA512: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04];
const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0A];

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    const CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
    const DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match body.len() {
            n @ 0..=0x7F => out.push(n as u8),
            n @ 0x80..=0xFF => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(body);
        out
    }

    fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(SEQUENCE, &parts.concat())
    }

    fn set(parts: &[&[u8]]) -> Vec<u8> {
        tlv(SET, &parts.concat())
    }

    fn oid(contents: &[u8]) -> Vec<u8> {
        tlv(OID, contents)
    }

    fn bits(bytes: &[u8]) -> Vec<u8> {
        tlv(BIT_STRING, &[&[0][..], bytes].concat())
    }

    fn name(common: &str) -> Vec<u8> {
        let relative = set(&[&seq(&[&oid(COMMON_NAME), &tlv(0x0C, common.as_bytes())])]);
        seq(&[&relative])
    }

    /// A P-256 key and a certificate for it named `subject`, signed by `issuer` (its name and
    /// key; itself when `None`).
    pub(crate) struct Signing {
        key: EcdsaKeyPair,
        certificate: Vec<u8>,
        subject: Vec<u8>,
    }

    fn ecdsa(key: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
        key.sign(&SystemRandom::new(), message)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    impl Signing {
        pub(crate) fn new(subject: &str, issuer: Option<&Signing>) -> Self {
            let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
            let subject = name(subject);
            let issuer_name = issuer.map_or(subject.clone(), |i| i.subject.clone());
            let time = tlv(0x17, b"260101000000Z");
            let tbs = seq(&[
                &tlv(0xA0, &tlv(INTEGER, &[2])),
                &tlv(INTEGER, &[7]),
                &seq(&[&oid(ECDSA_SHA256)]),
                &issuer_name,
                &seq(&[&time, &time]),
                &subject,
                &seq(&[
                    &seq(&[&oid(EC_PUBLIC_KEY), &oid(P256)]),
                    &bits(key.public_key().as_ref()),
                ]),
            ]);
            let signer_key = issuer.map_or(&key, |i| &i.key);
            let certificate = seq(&[
                &tbs,
                &seq(&[&oid(ECDSA_SHA256)]),
                &bits(&ecdsa(signer_key, &tbs)),
            ]);
            Self {
                key,
                certificate,
                subject,
            }
        }

        /// `mcpb sign`'s block (header, length, PKCS#7, footer) over `content`, its signature
        /// made by `key` (its own when `None`).
        pub(crate) fn block(&self, content: &[u8], key: Option<&EcdsaKeyPair>) -> Vec<u8> {
            let digest = digest::digest(&digest::SHA256, content);
            let attributes = [
                seq(&[&oid(CONTENT_TYPE), &set(&[&oid(DATA)])]),
                seq(&[
                    &oid(MESSAGE_DIGEST),
                    &set(&[&tlv(OCTET_STRING, digest.as_ref())]),
                ]),
            ]
            .concat();
            let signature = ecdsa(key.unwrap_or(&self.key), &tlv(SET, &attributes));
            let certificate = Reader::new(&self.certificate).next("").unwrap();
            let issuer = Certificate::read(certificate).unwrap().issuer.raw.to_vec();
            let signer = seq(&[
                &tlv(INTEGER, &[1]),
                &seq(&[&issuer, &tlv(INTEGER, &[7])]),
                &seq(&[&oid(SHA256)]),
                &tlv(0xA0, &attributes),
                &seq(&[&oid(ECDSA_SHA256)]),
                &tlv(OCTET_STRING, &signature),
            ]);
            let signed = seq(&[
                &tlv(INTEGER, &[1]),
                &set(&[&seq(&[&oid(SHA256)])]),
                &seq(&[&oid(DATA)]),
                &tlv(0xA0, &self.certificate),
                &set(&[&signer]),
            ]);
            let der = seq(&[&oid(SIGNED_DATA), &tlv(0xA0, &signed)]);
            [HEADER, &(der.len() as u32).to_le_bytes(), &der, FOOTER].concat()
        }
    }

    fn checked(content: &[u8], block: &[u8]) -> Result<Signer, SignatureError> {
        let bytes = [content, block].concat();
        let (zip, der) = split(&bytes)?;
        assert_eq!(zip, content, "the zip is what precedes the block");
        verify(zip, der.expect("a block"))
    }

    #[test]
    fn a_matching_signature_names_its_signer_and_whether_it_is_self_signed() {
        let content = b"PK the zip";
        let own = Signing::new("Ada's Tools", None);
        let signer = checked(content, &own.block(content, None)).unwrap();
        assert_eq!(signer.to_string(), "signed by CN=Ada's Tools (self-signed)");

        let authority = Signing::new("Test CA", None);
        let issued = Signing::new("Bob\nsigned by CN=Apple", Some(&authority));
        let signer = checked(content, &issued.block(content, None)).unwrap();
        assert_eq!(
            signer.to_string(),
            "signed by CN=Bob?signed by CN=Apple, issued by CN=Test CA (certificate chain not checked)",
            "a line break in a name cannot forge a line of the consent"
        );
    }

    #[test]
    fn a_changed_content_or_another_key_does_not_match() {
        let content = b"PK the zip";
        let own = Signing::new("Ada", None);
        let block = own.block(content, None);
        assert_eq!(
            checked(b"PK the zap", &block),
            Err(SignatureError::Mismatch)
        );
        let stranger = Signing::new("Eve", None);
        let forged = own.block(content, Some(&stranger.key));
        assert_eq!(checked(content, &forged), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_block_that_does_not_parse_is_refused() {
        let content = b"PK the zip";
        let block = Signing::new("Ada", None).block(content, None);
        let mut longer = block.clone();
        longer[HEADER.len()] += 1;
        let mut not_der = block.clone();
        not_der[HEADER.len() + 4] = 0x31;
        let junk = [HEADER, &4u32.to_le_bytes(), b"pkcs", FOOTER].concat();
        for (case, bytes) in [("length", longer), ("tag", not_der), ("junk", junk)] {
            let err = checked(content, &bytes).expect_err(case);
            assert!(matches!(err, SignatureError::Malformed(_)), "{case}: {err}");
        }
        assert_eq!(split(b"PK no block").unwrap(), (&b"PK no block"[..], None));
        let modulus = |len: usize| {
            seq(&[
                &tlv(INTEGER, &[&[0, 0x80][..], &vec![1; len - 1]].concat()),
                &tlv(INTEGER, &[1, 0, 1]),
            ])
        };
        assert_eq!(rsa_bits(&modulus(256)), Ok(2048));
        let small = Key {
            algorithm: RSA_ENCRYPTION,
            curve: None,
            bits: &modulus(128),
        };
        assert!(
            matches!(
                verification(&small, &digest::SHA256),
                Err(SignatureError::Unsupported(_))
            ),
            "a 1024-bit key is not called a mismatch"
        );
        let named = Signing::new("MCPB_SIG_V1", None);
        let signer = checked(content, &named.block(content, None)).unwrap();
        assert_eq!(
            signer.subject, "CN=MCPB_SIG_V1",
            "a header inside the block is passed over"
        );
    }
}
