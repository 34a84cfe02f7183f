//! What app users edit about themselves: a customer's display name; a mitra's display
//! name and bio. Input is checked here, once, so the API and any later caller share the
//! same rules.

use sqlx::PgPool;
use uuid::Uuid;

/// Longest display name, in characters, after trimming.
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;
/// Longest mitra bio, in characters.
pub const MAX_BIO_CHARS: usize = 1000;

/// Why a profile edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{field} must be 1 to {max} characters after trimming")]
    Length { field: &'static str, max: usize },
    #[error("{field} must not contain control characters")]
    ControlCharacters { field: &'static str },
    #[error("this account no longer exists")]
    Gone,
    #[error(transparent)]
    Unexpected(#[from] sqlx::Error),
}

/// A display name as stored: trimmed, 1–80 characters, no control characters.
pub fn display_name(input: &str) -> Result<String, ProfileError> {
    let name = input.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_DISPLAY_NAME_CHARS {
        return Err(ProfileError::Length { field: "display_name", max: MAX_DISPLAY_NAME_CHARS });
    }
    if name.chars().any(char::is_control) {
        return Err(ProfileError::ControlCharacters { field: "display_name" });
    }
    Ok(name.to_owned())
}

/// A bio as stored: trimmed, at most 1000 characters; line breaks and tabs are allowed,
/// other control characters are not. Empty clears it.
pub fn bio(input: &str) -> Result<String, ProfileError> {
    let bio = input.trim();
    if bio.chars().count() > MAX_BIO_CHARS {
        return Err(ProfileError::Length { field: "bio", max: MAX_BIO_CHARS });
    }
    if bio.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(ProfileError::ControlCharacters { field: "bio" });
    }
    Ok(bio.to_owned())
}

/// Sets a customer's display name. `Gone` when the account was deleted or merged.
pub async fn rename_customer(db: &PgPool, id: Uuid, name: &str) -> Result<(), ProfileError> {
    let name = display_name(name)?;
    let done = sqlx::query(
        "UPDATE customers SET display_name = $2, updated_at = now()
         WHERE id = $1 AND merged_into IS NULL AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(name)
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ProfileError::Gone);
    }
    Ok(())
}

impl From<ProfileError> for crate::ApiError {
    fn from(err: ProfileError) -> Self {
        use crate::ErrorCode;
        match err {
            ProfileError::Length { .. } | ProfileError::ControlCharacters { .. } => {
                crate::ApiError::invalid_request(err.to_string())
            }
            ProfileError::Gone => crate::ApiError::new(ErrorCode::NotFound, err.to_string()),
            ProfileError::Unexpected(cause) => crate::ApiError::internal(&cause.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(display_name("  Ayu  ").ok().as_deref(), Some("Ayu"));
        assert_eq!(display_name(&"é".repeat(80)).ok(), Some("é".repeat(80)));
        assert!(matches!(display_name("   "), Err(ProfileError::Length { .. })));
        assert!(matches!(display_name(&"a".repeat(81)), Err(ProfileError::Length { .. })));
        assert!(matches!(display_name("Ay\u{0007}u"), Err(ProfileError::ControlCharacters { .. })));
        assert!(matches!(display_name("Ayu\nSari"), Err(ProfileError::ControlCharacters { .. })));
    }

    #[test]
    fn a_bio_keeps_line_breaks_and_is_bounded() {
        assert_eq!(bio("Tukang pijat\nSenin–Jumat").ok().as_deref(), Some("Tukang pijat\nSenin–Jumat"));
        assert_eq!(bio("").ok().as_deref(), Some(""));
        assert!(matches!(bio(&"b".repeat(1001)), Err(ProfileError::Length { .. })));
        assert!(matches!(bio("a\u{0000}b"), Err(ProfileError::ControlCharacters { .. })));
    }
}
