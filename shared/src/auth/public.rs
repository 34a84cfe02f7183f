//! `Public`: the marker a public operation takes so the spec states it is public
//! (`security: [{}]`, "no credentials needed") instead of leaving security out, which
//! linters and readers cannot tell from a forgotten requirement.

use poem::{Request, RequestBody};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

/// Add `_public: Public` to every operation anyone may call without credentials.
pub struct Public;

impl<'a> ApiExtractor<'a> for Public {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        _req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Public)
    }
}
