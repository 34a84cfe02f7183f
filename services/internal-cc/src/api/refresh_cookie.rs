//! The `cc_refresh_token` cookie as the spec shows it: an `apiKey` security scheme in a
//! cookie (`ccRefreshCookie`), which the browser sends by itself with
//! `credentials: 'include'`. Generated clients then treat it as credentials, not as a
//! parameter their caller must fill (the SPA cannot read an HttpOnly cookie anyway).

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

pub const REFRESH_COOKIE: &str = "cc_refresh_token";
const SCHEME: &str = "ccRefreshCookie";

/// The refresh cookie's value, if the browser sent one. A missing cookie is the
/// handler's to refuse (401 `invalid_refresh_token`), like a wrong one.
pub struct RefreshCookie(pub Option<String>);

impl<'a> ApiExtractor<'a> for RefreshCookie {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The HttpOnly refresh cookie set by login and refresh. Browsers send it by \
                     themselves on requests made with `credentials: 'include'`.",
                ),
                name: Some(REFRESH_COOKIE),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(req.cookie().get(REFRESH_COOKIE).map(|c| c.value_str().to_owned()).filter(|v| !v.is_empty())))
    }
}
