package sim

// Sensor names: the keys of Reading.Values and of the payload's "values"
// object. Every class publishes at least vibration_rms, bearing_temp_c,
// current_a and speed_rpm.
const (
	SensorVibrationRMS      = "vibration_rms"      // velocity RMS, mm/s (ISO 10816)
	SensorVibrationKurtosis = "vibration_kurtosis" // kurtosis of the acceleration signal, 3 = Gaussian
	SensorBearingTemp       = "bearing_temp_c"     // bearing housing temperature, degrees Celsius
	SensorCurrent           = "current_a"          // motor phase current, A
	SensorPressure          = "pressure_bar"       // discharge pressure, bar (pumps, compressors)
	SensorFlow              = "flow_m3h"           // flow, m3/h (pumps, compressors)
	SensorSpeed             = "speed_rpm"          // shaft speed, rpm
)

// sensorResolution is the resolution a sensor reports with; values are
// rounded to it, as real transmitters do.
var sensorResolution = map[string]float64{
	SensorVibrationRMS:      0.01,
	SensorVibrationKurtosis: 0.01,
	SensorBearingTemp:       0.1,
	SensorCurrent:           0.01,
	SensorPressure:          0.01,
	SensorFlow:              0.1,
	SensorSpeed:             1,
}
