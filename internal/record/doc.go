// Package record is the consultation record the host keeps (§§ 61, 62 VVG,
// text form § 126b BGB): its content, its signed JSON form, its PDF form, and
// the folder of stored records with listing and search.
//
// record is a leaf: standard library only, no direkt imports.
package record
