//! Access tokens: HS256 JWTs, algorithm pinned, `exp`, `iat`, `iss`, `aud` and `sub` required.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

pub const ISSUER: &str = "hector";
pub const AUDIENCE: &str = "hector-api";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: i64,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

pub fn issue(
    secret: &str,
    user_id: i64,
    session_id: i64,
    expires_at: DateTime<Utc>,
) -> AppResult<String> {
    let claims = Claims {
        sub: user_id.to_string(),
        sid: session_id,
        iat: Utc::now().timestamp(),
        exp: expires_at.timestamp(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| AppError::Internal(format!("signing failed: {e}").into()))
}

/// The claims of a valid token; `UNAUTHENTICATED` for anything else (bad signature, other
/// algorithm including `none`, expired, wrong issuer or audience, missing claims).
pub fn verify(secret: &str, token: &str) -> AppResult<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = 0;
    decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|_| AppError::Unauthenticated)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const SECRET: &str = "test-secret-test-secret-test-secret";

    #[test]
    fn tokens_verify_and_tampering_is_refused() {
        let token = issue(SECRET, 7, 3, Utc::now() + chrono::Duration::minutes(5)).unwrap();
        let claims = verify(SECRET, &token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid), ("7", 3));
        assert!(verify("another-secret-another-secret-xx", &token).is_err());

        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            br#"{"sub":"1","sid":3,"iat":0,"exp":99999999999,"iss":"hector","aud":"hector-api"}"#,
        );
        assert!(verify(SECRET, &format!("{}.{forged}.{}", parts[0], parts[2])).is_err());
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(verify(SECRET, &format!("{none}.{}.", parts[1])).is_err());

        let expired = issue(SECRET, 7, 3, Utc::now() - chrono::Duration::seconds(5)).unwrap();
        assert!(verify(SECRET, &expired).is_err());
    }
}
