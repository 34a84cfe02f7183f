//! Phone numbers, parsed once at the edge into E.164. Indonesian local forms (`08…`,
//! `628…`, `+62 8…`) all become `+628…`; anything that is not a mobile number is refused.

use std::fmt;

use phonenumber::country::Id;
use phonenumber::{Mode, Type};

/// A valid mobile number in E.164 form, e.g. `+6281234567890`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid mobile phone number")]
pub struct InvalidPhone(pub String);

impl Phone {
    pub fn parse(input: &str) -> Result<Self, InvalidPhone> {
        let invalid = || InvalidPhone(input.chars().take(32).collect());
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(invalid());
        }
        // `628…` written without the plus is the country code, not a national number.
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let candidate = if !trimmed.starts_with('+') && digits.starts_with("62") && !digits.starts_with("620") {
            format!("+{digits}")
        } else {
            trimmed.to_owned()
        };
        let number = phonenumber::parse(Some(Id::ID), &candidate).map_err(|_| invalid())?;
        let mobile =
            matches!(number.number_type(&phonenumber::metadata::DATABASE), Type::Mobile | Type::FixedLineOrMobile);
        if !number.is_valid() || !mobile {
            return Err(invalid());
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number's country as an ISO 3166 code (`ID`, `GB`, …), when it has one.
    pub fn country(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        number.country().id().map(|id| id.as_ref().to_owned())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_knows_its_country() {
        assert_eq!(Phone::parse("081234567890").expect("valid").country().as_deref(), Some("ID"));
        assert_eq!(Phone::parse("+60 12-345 6789").expect("valid").country().as_deref(), Some("MY"));
    }

    #[test]
    fn indonesian_written_forms_normalise_to_one_e164_number() {
        for form in ["081234567890", "6281234567890", "+6281234567890", "+62 812-3456-7890", " 0812 3456 7890 "] {
            assert_eq!(Phone::parse(form).map(|p| p.0), Ok("+6281234567890".to_owned()), "{form}");
        }
    }

    #[test]
    fn foreign_mobile_numbers_keep_their_country() {
        assert_eq!(Phone::parse("+60 12-345 6789").map(|p| p.0), Ok("+60123456789".to_owned()));
    }

    #[test]
    fn non_numbers_and_non_mobile_numbers_are_refused() {
        for bad in ["", "hello", "0812", "021 5550 1234", "+62 21 5550 1234", "12345678901234567890123", "+999 1234567"]
        {
            assert!(Phone::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
