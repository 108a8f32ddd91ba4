//! Query parameters, titiler's names: repeated keys (`bidx=1&bidx=2`, `rescale=..&rescale=..`)
//! and comma lists are both accepted.

use mosaic::crs::Crs;
use mosaic::render::encode::{Colormap, RenderOptions, parse_rescale};
use mosaic::render::{PixelSelection, ReadOptions, Resampling, TileOptions};

use crate::error::{ApiError, ApiResult};

/// The raw query as key/value pairs in order; an axum extractor.
///
/// Not `axum::extract::Query<T>` with a serde struct: titiler's parameters take the last
/// non-empty value of a scalar key, accept repeated keys *and* comma lists for `bidx` and
/// `rescale`, keep their order for the links that carry a request's parameters, and report
/// a bad value with the parameter's name in our `{detail}`; a serde struct would reject
/// repeated scalars and word its own errors. The pairs are decoded by `form_urlencoded`.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Query {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Query, Self::Rejection> {
        Ok(Query::parse(parts.uri.query()))
    }
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn parse_num<T: std::str::FromStr>(&self, key: &str) -> ApiResult<Option<T>> {
        self.get(key)
            .map(|v| {
                v.trim().parse::<T>().map_err(|_| {
                    ApiError::BadRequest(format!("`{key}`: `{v}` is not a valid number"))
                })
            })
            .transpose()
    }

    fn parse_bool(&self, key: &str) -> ApiResult<Option<bool>> {
        self.get(key)
            .map(|v| {
                mosaic::cache::parse_bool(v)
                    .ok_or_else(|| ApiError::BadRequest(format!("`{key}`: `{v}` is not a boolean")))
            })
            .transpose()
    }

    /// The query string without `drop` keys, for links that carry the request's parameters.
    pub fn encode_without(&self, drop: &[&str]) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if !drop.contains(&k.as_str()) {
                ser.append_pair(k, v);
            }
        }
        ser.finish()
    }

    /// `bidx` as 1-based band indexes.
    pub fn bidx(&self) -> ApiResult<Option<Vec<usize>>> {
        let mut out = Vec::new();
        for v in self.all("bidx") {
            for part in v.split(',').filter(|p| !p.trim().is_empty()) {
                let b: usize = part.trim().parse().map_err(|_| {
                    ApiError::BadRequest(format!("`bidx`: `{part}` is not a band index"))
                })?;
                if b == 0 {
                    return Err(ApiError::BadRequest("`bidx` starts at 1".into()));
                }
                out.push(b);
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// `nodata` (number, nan, inf, -inf).
    pub fn nodata(&self) -> ApiResult<Option<f64>> {
        self.get("nodata")
            .map(|v| {
                mosaic::render::parse_nodata(v).map_err(|e| ApiError::BadRequest(e.to_string()))
            })
            .transpose()
    }

    /// `coord_crs`.
    pub fn coord_crs(&self) -> ApiResult<Option<Crs>> {
        self.get("coord_crs")
            .map(|v| {
                // Before GDAL sees it: no URL to fetch, no file to open.
                mosaic::tms::check_crs_definition(v)
                    .and_then(|()| Crs::parse(v))
                    .map_err(|e| ApiError::BadRequest(format!("`coord_crs`: {e}")))
            })
            .transpose()
    }

    /// `reverse`.
    pub fn reverse(&self) -> ApiResult<bool> {
        Ok(self.parse_bool("reverse")?.unwrap_or(false))
    }

    /// Tile read and mosaicking options.
    pub fn tile_options(
        &self,
        scale: usize,
        concurrency: usize,
        max_assets: usize,
    ) -> ApiResult<TileOptions> {
        let bad = |e: mosaic::Error| ApiError::BadRequest(e.to_string());
        let tilesize = match self.parse_num::<usize>("tilesize")? {
            Some(t) => t,
            None => 256 * scale,
        };
        let read = ReadOptions {
            tilesize,
            indexes: self.bidx()?,
            nodata: self.nodata()?,
            resampling: self
                .get("resampling")
                .map(str::parse::<Resampling>)
                .transpose()
                .map_err(bad)?
                .unwrap_or_default(),
            reproject: self
                .get("reproject")
                .map(str::parse::<Resampling>)
                .transpose()
                .map_err(bad)?
                .unwrap_or_default(),
            buffer: self.parse_num::<f64>("buffer")?.unwrap_or(0.0),
            padding: self.parse_num::<usize>("padding")?.unwrap_or(0),
            max_bytes: None,
        };
        read.validate().map_err(bad)?;
        let pixel_selection = self
            .get("pixel_selection")
            .map(str::parse::<PixelSelection>)
            .transpose()
            .map_err(bad)?
            .unwrap_or_default();
        Ok(TileOptions {
            read,
            pixel_selection,
            concurrency,
            max_assets: Some(max_assets),
            read_slots: None,
        })
    }

    /// Post-processing and encoding options; `format` comes from the path.
    pub fn render_options(&self, format: Option<&str>) -> ApiResult<RenderOptions> {
        let bad = |e: mosaic::Error| ApiError::BadRequest(e.to_string());
        let rescale: Vec<String> = self.all("rescale").into_iter().map(String::from).collect();
        let colormap = match (self.get("colormap_name"), self.get("colormap")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "give `colormap_name` or `colormap`, not both".into(),
                ));
            }
            (Some(n), None) => Some(Colormap::named(n).map_err(bad)?),
            (None, Some(j)) => Some(Colormap::from_json(j).map_err(bad)?),
            (None, None) => None,
        };
        Ok(RenderOptions {
            format: format.map(str::parse).transpose().map_err(bad)?,
            rescale: parse_rescale(&rescale).map_err(bad)?,
            colormap,
            no_mask: !self.parse_bool("return_mask")?.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_values() {
        let q = Query::parse(Some(
            "bidx=3&bidx=1,2&rescale=0,100&rescale=5,6&url=a%2Fb.json&reverse=true",
        ));
        assert_eq!(q.bidx().unwrap(), Some(vec![3, 1, 2]));
        assert_eq!(
            q.render_options(None).unwrap().rescale,
            vec![(0.0, 100.0), (5.0, 6.0)]
        );
        assert_eq!(q.get("url"), Some("a/b.json"));
        assert!(q.reverse().unwrap());
        assert!(Query::parse(Some("bidx=x")).bidx().is_err());
        assert!(
            Query::parse(Some("tilesize=abc"))
                .tile_options(1, 1, 20)
                .is_err()
        );
        assert!(
            Query::parse(Some("pixel_selection=best"))
                .tile_options(1, 1, 20)
                .is_err()
        );
        assert_eq!(
            Query::parse(Some("url=x&tilesize=1")).encode_without(&["tilesize"]),
            "url=x"
        );
    }
}
