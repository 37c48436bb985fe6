// The XenAPI wire codecs in one import.
export * from './decode.js';
export * from './errors.js';
export * from './format-float.js';
export * from './json-depth.js';
export * from './json-rpc.js';
export * from './utf8.js';
export * from './xml-encode.js';
export {
  DEFAULT_XML_LIMITS,
  type MethodCall,
  type MethodResponse,
  parseMethodCall,
  parseMethodResponse,
  parseValueFragment,
  type XmlLimits,
} from './xml-parse.js';
export * from './xml-value.js';
