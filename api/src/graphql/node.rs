//! Relay global ids: opaque base64 of `Type:id`, refused when they name another type. Which
//! types exist and how each is fetched is each domain's to say; the schema assembly combines
//! them behind `node(id:)`.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// The global id of object `id` of GraphQL type `kind`.
pub fn encode(kind: &str, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{kind}:{id}")))
}

fn invalid(id: &ID) -> AppError {
    AppError::bad_input(format!("{:?} is not a valid id", id.as_str()))
}

/// Any well-formed global id: its type name and database id.
pub fn decode_any(id: &ID) -> AppResult<(String, i64)> {
    if id.len() > 64 {
        return Err(invalid(id));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(id.as_bytes())
        .map_err(|_| invalid(id))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid(id))?;
    let (kind, num) = text.split_once(':').ok_or_else(|| invalid(id))?;
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(id));
    }
    let num: i64 = num.parse().map_err(|_| invalid(id))?;
    Ok((kind.to_owned(), num))
}

/// A global id that must be of type `kind`.
pub fn decode(id: &ID, kind: &str) -> AppResult<i64> {
    match decode_any(id)? {
        (k, n) if k == kind => Ok(n),
        _ => Err(AppError::bad_input(format!(
            "{:?} is not the id of a {kind}",
            id.as_str(),
        ))),
    }
}

/// For a lookup by id (`host(id:)` and the like): the database id when `id` is of type `kind`,
/// `None` when it is a well-formed id of another type (such a lookup answers null, as `node`
/// does), an error when it is no id at all.
pub fn decode_of(id: &ID, kind: &str) -> AppResult<Option<i64>> {
    let (k, n) = decode_any(id)?;
    Ok((k == kind).then_some(n))
}

/// Global ids that must all be of type `kind`.
pub fn decode_many(ids: &[ID], kind: &str) -> AppResult<Vec<i64>> {
    ids.iter().map(|id| decode(id, kind)).collect()
}

/// An id whose type no domain owns: the same answer as any other invalid id.
pub fn unknown(id: &ID) -> AppError {
    invalid(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let id = encode("Host", 42);
        assert_eq!(decode(&id, "Host").unwrap(), 42);
        assert!(decode(&id, "Tag").is_err());
        assert!(decode(&ID("garbage".into()), "Host").is_err());
        assert!(decode_any(&encode("Bad Type", 1)).is_err());
        assert_eq!(decode_of(&id, "Host").unwrap(), Some(42));
        assert_eq!(decode_of(&id, "Tag").unwrap(), None);
        assert!(decode_of(&ID("garbage".into()), "Tag").is_err());
    }
}
