--[[
 DSA-110 L-band (1.28-1.53 GHz) strategy for contimg (docs/flagging.md).
 Derived from AOFlagger's generic default strategy (version 2020-05-26, by
 André Offringa, shipped as generic-default.lua with AOFlagger 3.1), with:
  - exclude_original_flags = true: contimg passes the samples it already
    flagged (zero/NaN/Inf, missing subbands, existing FLAG) as the original
    mask, so they neither bias the background fit nor get unflagged;
  - per-subband normalisation (as AOFlagger's JVLA strategy does) before the
    final SumThreshold: the 16 subbands of a group come from 16 correlator
    nodes whose bandpass levels differ;
  - no downsampling in time before the low-pass filter (generic: 3): a
    group has only 24 integrations, and a calibrator drifting through the
    beam changes its amplitude by ~15% over them; the coarse background of
    the generic strategy cannot follow that near the group's edges and the
    first and last integrations were flagged on bright sources;
  - no statistics collection (the data come from memory, not an MS).
 Input: one baseline, time (x) by the group's channels in frequency order
 (y), XX and YY as complex images.
]]--

aoflagger.require_min_version("3.0")

function execute(input)

  -- Both correlations (XX, YY); the result is one mask for both.
  local flag_polarizations = input:get_polarizations()

  local base_threshold = 1.0          -- lower = more sensitive
  local flag_representations = { "amplitude" }  -- fringes rotate the phase by radians per integration
  local iteration_count = 3
  local threshold_factor_step = 2.0
  local exclude_original_flags = true
  local frequency_resize_factor = 1.0
  local transient_threshold_factor = 1.0
  local subbands = 16                 -- DSA-110 subbands (correlator nodes) in a group

  local inpPolarizations = input:get_polarizations()

  if(not exclude_original_flags) then
    input:clear_mask()
  end
  local copy_of_input = input:copy()

  for ipol,polarization in ipairs(flag_polarizations) do

    local pol_data = input:convert_to_polarization(polarization)

    for _,representation in ipairs(flag_representations) do

      data = pol_data:convert_to_complex(representation)
      local original_data = data:copy()

      for i=1,iteration_count-1 do
        local threshold_factor = math.pow(threshold_factor_step, iteration_count-i)

        local sumthr_level = threshold_factor * base_threshold
        if(exclude_original_flags) then
          aoflagger.sumthreshold_masked(data, original_data, sumthr_level, sumthr_level*transient_threshold_factor, true, true)
        else
          aoflagger.sumthreshold(data, sumthr_level, sumthr_level*transient_threshold_factor, true, true)
        end

        -- Timestep and channel flagging
        local chdata = data:copy()
        aoflagger.threshold_timestep_rms(data, 3.5)
        aoflagger.threshold_channel_rms(chdata, 3.0 * threshold_factor, true)
        data:join_mask(chdata)

        -- High-pass filter: subtract a smooth time-frequency background
        data:set_visibilities(original_data)
        if(exclude_original_flags) then
          data:join_mask(original_data)
        end

        -- Time factor 1 (generic: 3): see the header.
        local resized_data = aoflagger.downsample(data, 1, frequency_resize_factor, true)
        aoflagger.low_pass_filter(resized_data, 21, 31, 2.5, 5.0)
        aoflagger.upsample(resized_data, data, 1, frequency_resize_factor)

        local tmp = original_data - data
        tmp:set_mask(data)
        data = tmp

        aoflagger.set_progress((ipol-1)*iteration_count+i, #flag_polarizations*iteration_count )
      end -- end of iterations

      aoflagger.normalize_subbands(data, subbands)

      if(exclude_original_flags) then
        aoflagger.sumthreshold_masked(data, original_data, base_threshold, base_threshold*transient_threshold_factor, true, true)
      else
        aoflagger.sumthreshold(data, base_threshold, base_threshold*transient_threshold_factor, true, true)
      end
    end -- end of complex representation iteration

    if input:is_complex() then
      data = data:convert_to_complex("complex")
    end
    input:set_polarization_data(polarization, data)

    aoflagger.set_progress(ipol, #flag_polarizations )
  end -- end of polarization iterations

  if(exclude_original_flags) then
    aoflagger.scale_invariant_rank_operator_masked(input, copy_of_input, 0.2, 0.2)
  else
    aoflagger.scale_invariant_rank_operator(input, 0.2, 0.2)
  end

  aoflagger.threshold_timestep_rms(input, 4.0)

  input:flag_nans()
end
