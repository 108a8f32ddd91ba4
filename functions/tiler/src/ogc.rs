//! Documents describing the tiles: TileJSON 3.0, OGC Tiles (TileSet list, TileSet) and a
//! RESTful WMTS capabilities document, with titiler's link shapes.

use mosaic::TileMatrixSet;
use mosaic::render::encode::ImageFormat;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::routes::Target;

/// Query keys that describe a document, not the tiles.
const DOC_KEYS: [&str; 5] = [
    "tile_format",
    "tile_scale",
    "minzoom",
    "maxzoom",
    "tilematrixsetid",
];

/// The query keys links leave out: for a STAC search in the query, its zooms stay (they
/// define the search's mosaic).
fn doc_keys(t: &Target) -> &'static [&'static str] {
    if t.search_in_query {
        &["tile_format", "tile_scale", "tilematrixsetid"]
    } else {
        &DOC_KEYS
    }
}

/// `s` as one URL path segment: everything but RFC 3986's unreserved characters
/// percent-encoded (a TMS id comes from the mosaic document).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `tile_format` when it names a format the tile endpoint renders (as
/// `mosaic::render::encode` parses them), lower-cased; anything else is left out.
fn tile_format(t: &Target) -> Option<String> {
    let f = t.query.get("tile_format")?;
    f.parse::<ImageFormat>().ok()?;
    Some(f.to_ascii_lowercase())
}

/// `tile_scale` when it is one the tile endpoint serves (1 to 4), else 1.
fn tile_scale(t: &Target) -> u8 {
    t.query
        .get("tile_scale")
        .and_then(|s| s.parse::<u8>().ok())
        .filter(|s| (1..=4).contains(s))
        .unwrap_or(1)
}

fn tile_template(base: &str, tms: &str, t: &Target, extra: &[(&str, &str)]) -> String {
    let mut q = t.query.clone();
    for (k, v) in extra {
        if q.get(k).is_none() {
            q.0.push((k.to_string(), v.to_string()));
        }
    }
    let fmt = tile_format(t).map(|f| format!(".{f}")).unwrap_or_default();
    let scale = tile_scale(t);
    let query = q.encode_without(doc_keys(t));
    let tms = segment(tms);
    format!(
        "{base}/tiles/{tms}/{{z}}/{{x}}/{{y}}@{scale}x{fmt}{}",
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    )
}

fn zooms(t: &Target) -> ApiResult<(u8, u8)> {
    let doc = t.mosaic.document();
    let z = |k: &str, d: u8| -> ApiResult<u8> {
        t.query
            .get(k)
            .map(|v| {
                v.parse::<u8>()
                    .map_err(|_| ApiError::BadRequest(format!("`{k}` must be a zoom")))
            })
            .transpose()
            .map(|v| v.unwrap_or(d))
    };
    Ok((z("minzoom", doc.minzoom)?, z("maxzoom", doc.maxzoom)?))
}

/// TileJSON 3.0.0 of the mosaic in `tms`.
pub(crate) fn tilejson(
    state: &AppState,
    t: &Target,
    tms: &TileMatrixSet,
    base: &str,
) -> ApiResult<Value> {
    let doc = t.mosaic.document();
    let (minzoom, maxzoom) = zooms(t)?;
    let b = doc.bounds;
    let center = doc.center.unwrap_or_else(|| doc.default_center());
    let mut tj = json!({
        "tilejson": "3.0.0",
        "name": doc.name.clone().unwrap_or_else(|| "mosaic".into()),
        "version": doc.version,
        "scheme": "xyz",
        "tiles": [tile_template(base, tms.id(), t, &[("tilesize", "512")])],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": b,
        "center": [center.lon, center.lat, center.zoom.clamp(minzoom, maxzoom)],
    });
    if let Some(a) = doc
        .attribution
        .clone()
        .or_else(|| state.config.attribution.clone())
    {
        tj["attribution"] = json!(a);
    }
    Ok(tj)
}

fn tms_limits(tms: &TileMatrixSet, bounds: [f64; 4], minzoom: u8, maxzoom: u8) -> Vec<Value> {
    (minzoom..=maxzoom)
        .map(|z| {
            let ul = tms.tile(bounds[0], bounds[3], z);
            let lr = tms.tile(bounds[2], bounds[1], z);
            json!({"tileMatrix": z.to_string(), "minTileRow": ul.y.min(lr.y), "maxTileRow": ul.y.max(lr.y),
                   "minTileCol": ul.x.min(lr.x), "maxTileCol": ul.x.max(lr.x)})
        })
        .collect()
}

/// OGC TileSet of the mosaic in `tms`.
pub(crate) fn tileset(t: &Target, tms: &TileMatrixSet, base: &str) -> ApiResult<Value> {
    let doc = t.mosaic.document();
    let (minzoom, maxzoom) = zooms(t)?;
    Ok(json!({
        "title": format!("tileset tiled using {} TileMatrixSet", tms.id()),
        "dataType": "map",
        "crs": tms.crs().uri(),
        "boundingBox": {"lowerLeft": [doc.bounds[0], doc.bounds[1]], "upperRight": [doc.bounds[2], doc.bounds[3]],
                        "crs": tms.geographic_crs().uri()},
        "links": [
            {"href": format!("{base}/tiles/{}", segment(tms.id())), "rel": "self", "type": "application/json", "title": "The tileset"},
            {"href": tile_template(base, tms.id(), t, &[]), "rel": "item", "type": "image/png", "title": "Tile", "templated": true},
        ],
        "tileMatrixSetLimits": tms_limits(tms, doc.bounds, minzoom, maxzoom),
    }))
}

/// OGC TileSet list: the mosaic in every TMS it can be read with.
pub(crate) fn tileset_list(t: &Target, base: &str) -> Value {
    let doc = t.mosaic.document();
    let mut ids: Vec<String> = mosaic::tms::BUILTIN_IDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !ids.contains(&doc.tms().id().to_string()) {
        ids.push(doc.tms().id().to_string());
    }
    let query = t.query.encode_without(doc_keys(t));
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    json!({"tilesets": ids.iter().map(|id| {
        let seg = segment(id);
        json!({
            "title": format!("tileset tiled using {id} TileMatrixSet"),
            "dataType": "map",
            "links": [
                {"href": format!("{base}/tiles/{seg}{q}"), "rel": "self", "type": "application/json", "title": format!("Access to the tileset in {id}")},
                {"href": format!("{base}/tiles/{seg}/{{z}}/{{x}}/{{y}}{q}"), "rel": "item", "title": "Tile", "templated": true},
            ],
        })
    }).collect::<Vec<_>>()})
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// RESTful WMTS 1.0.0 capabilities: one layer, the mosaic's own TMS and WebMercatorQuad.
pub(crate) fn wmts(t: &Target, base: &str, only: Option<TileMatrixSet>) -> ApiResult<String> {
    let doc = t.mosaic.document();
    let fmt = t.query.get("tile_format").unwrap_or("png");
    let mime = match fmt {
        "png" => "image/png",
        "jpeg" | "jpg" => "image/jpeg",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        other => {
            return Err(ApiError::BadRequest(format!(
                "tile_format `{other}` is not an image format"
            )));
        }
    };
    // titiler's `/{tms}/WMTSCapabilities.xml`: that TMS alone; the older path: every one.
    let sets = match only {
        Some(tms) => vec![tms],
        None if doc.tms().id() != "WebMercatorQuad" => {
            vec![doc.tms(), TileMatrixSet::web_mercator()]
        }
        None => vec![doc.tms()],
    };
    let query = t.query.encode_without(doc_keys(t));
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let [w, s, e, n] = doc.bounds;
    let mut layer_links = String::new();
    let mut matrices = String::new();
    for tms in &sets {
        // The TMS id and CRS come from the document: escaped as XML text, percent-encoded
        // in URLs.
        let id = xml_escape(tms.id());
        layer_links.push_str(&format!(
            "<TileMatrixSetLink><TileMatrixSet>{id}</TileMatrixSet></TileMatrixSetLink>"
        ));
        let template = xml_escape(&format!(
            "{base}/tiles/{}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}@1x.{fmt}{q}",
            segment(tms.id())
        ));
        layer_links.push_str(&format!(
            "<ResourceURL format=\"{mime}\" resourceType=\"tile\" template=\"{template}\"/>"
        ));
        matrices.push_str(&format!(
            "<TileMatrixSet><ows:Identifier>{id}</ows:Identifier><ows:SupportedCRS>{}</ows:SupportedCRS>",
            xml_escape(&tms.crs().uri())
        ));
        for z in doc.minzoom..=doc.maxzoom {
            let m = tms.matrix(z);
            let (ox, oy) = (m.point_of_origin[0], m.point_of_origin[1]);
            matrices.push_str(&format!(
                "<TileMatrix><ows:Identifier>{z}</ows:Identifier><ScaleDenominator>{}</ScaleDenominator><TopLeftCorner>{ox} {oy}</TopLeftCorner><TileWidth>{}</TileWidth><TileHeight>{}</TileHeight><MatrixWidth>{}</MatrixWidth><MatrixHeight>{}</MatrixHeight></TileMatrix>",
                m.scale_denominator, m.tile_width, m.tile_height, m.matrix_width, m.matrix_height
            ));
        }
        matrices.push_str("</TileMatrixSet>");
    }
    let name = xml_escape(doc.name.as_deref().unwrap_or("mosaic"));
    let metadata_url = xml_escape(&format!("{base}/WMTSCapabilities.xml{q}"));
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.0.0">
<ows:ServiceIdentification><ows:Title>{name}</ows:Title><ows:ServiceType>OGC WMTS</ows:ServiceType><ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion></ows:ServiceIdentification>
<Contents>
<Layer><ows:Title>{name}</ows:Title><ows:Identifier>default</ows:Identifier><ows:Abstract>{name}</ows:Abstract>
<ows:WGS84BoundingBox crs="urn:ogc:def:crs:OGC:2:84"><ows:LowerCorner>{w} {s}</ows:LowerCorner><ows:UpperCorner>{e} {n}</ows:UpperCorner></ows:WGS84BoundingBox>
<Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style><Format>{mime}</Format>{layer_links}</Layer>
{matrices}
</Contents>
<ServiceMetadataURL xlink:href="{metadata_url}"/>
</Capabilities>"#
    ))
}
